"""X-Forwarded-For is believed only from TRUSTED_PROXIES, the same under the Procfile as under `sahulat run`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from bot.app import create_app
from bot.settings import Settings
from bot.staff import throttle

from .conftest import ROOT


def _guesses(settings: Settings, knowledge, database_url: str) -> list[int]:  # type: ignore[no-untyped-def]
    """One wrong password per forged address, one more than an address may try: the status codes."""
    app = create_app(settings.model_copy(update={"database_url": database_url}), knowledge=knowledge)
    with TestClient(app, follow_redirects=False) as client:  # TestClient connects as host "testclient"
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/staff/login").text)
        assert csrf
        codes = []
        for n in range(throttle.MAX_FAILURES_PER_ACCOUNT_AND_CLIENT + 1):
            data = {"csrf": csrf.group(1), "username": "admin", "password": "wrong password"}
            response = client.post("/staff/login", data=data, headers={"x-forwarded-for": f"203.0.113.{n}"})
            codes.append(response.status_code)
        return codes


def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(
    settings: Settings, knowledge, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    codes = _guesses(settings.model_copy(update={"trusted_proxies": "127.0.0.1"}), knowledge, database_url)
    assert codes[-1] == 429  # every guess counted against the one real address


def test_forwarded_for_from_a_trusted_proxy_names_the_client(settings: Settings, knowledge, database_url: str) -> None:  # type: ignore[no-untyped-def]
    codes = _guesses(settings.model_copy(update={"trusted_proxies": "testclient"}), knowledge, database_url)
    assert set(codes) == {400}  # six clients behind the proxy, one guess each


def test_trusting_every_address_is_refused() -> None:
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES may not be"):
        Settings(trusted_proxies="10.0.0.1, *")


def test_the_procfile_leaves_forwarded_headers_to_the_app() -> None:
    web = next(line for line in Path(ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert "--no-proxy-headers" in web and "forwarded-allow-ips" not in web
