"""Headers and redirects every route gets: nosniff, HSTS over https, no Host reflected, Secure cookies over https."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from bot.app import create_app
from bot.settings import Settings


@pytest.fixture
def make_app(database_url: str, settings: Settings, knowledge):  # type: ignore[no-untyped-def]
    """A new app per client: each TestClient runs the app's lifespan on an event loop of its own, and an app's
    database connections belong to the loop that made them."""
    app_settings = settings.model_copy(update={"database_url": database_url, "outbox_in_web": False})
    return lambda: create_app(app_settings, knowledge=knowledge)


@pytest.fixture
def http(make_app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(make_app(), follow_redirects=False) as client:
        yield client


@pytest.fixture
def https(make_app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(make_app(), base_url="https://sahulat.example.pk", follow_redirects=False) as client:
        yield client


@pytest.mark.parametrize("path", ["/healthz", "/open311/v2/services.json", "/nowhere", "/staff/login", "/staff"])
def test_every_response_says_nosniff_and_hsts_only_over_https(http: TestClient, https: TestClient, path: str) -> None:
    plain, secure = http.get(path), https.get(path)
    assert plain.headers["x-content-type-options"] == "nosniff" == secure.headers["x-content-type-options"]
    assert "strict-transport-security" not in plain.headers
    assert secure.headers["strict-transport-security"].startswith("max-age=")


def test_redirects_do_not_reflect_the_host_header(http: TestClient) -> None:
    response = http.get("/staff", headers={"host": "evil.example"})
    assert response.status_code in (301, 307, 308)
    assert response.headers["location"] == "/staff/"
    signed_out = http.get("/staff/", headers={"host": "evil.example"})
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/staff/login")


def test_the_session_cookie_is_secure_whenever_the_request_came_over_https(http: TestClient, https: TestClient) -> None:
    assert "secure" not in http.get("/staff/login").headers["set-cookie"].lower()
    assert "secure" in https.get("/staff/login").headers["set-cookie"].lower()
