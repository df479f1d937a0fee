"""SECRET_KEY: the published default (or a short key) never serves outside local development."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.app import create_app
from bot.settings import DEFAULT_SECRET_KEY, Settings

from .conftest import ROOT, sahulat

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/unused"


@pytest.mark.parametrize(
    "where",
    [{"database_url": POSTGRES}, {"database_url": "sqlite+aiosqlite:///x.db", "public_url": "https://s.example.pk"}],
)
@pytest.mark.parametrize("key", [DEFAULT_SECRET_KEY, "short-but-not-default"])
def test_the_app_refuses_a_default_or_short_key_outside_local_development(where: dict[str, str], key: str) -> None:
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(Settings(secret_key=key, **where))


def test_local_development_keeps_the_default_key() -> None:
    create_app(Settings(database_url="sqlite+aiosqlite:///x.db", public_url=None, secret_key=DEFAULT_SECRET_KEY))
    create_app(Settings(database_url=POSTGRES, secret_key="k" * 32))


def test_sahulat_run_refuses_the_default_key_on_postgresql(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "PUBLIC_URL")}
    code, _, err = sahulat("run", "--port", "1", env={**env, "DATABASE_URL": POSTGRES}, cwd=tmp_path)
    assert code != 0 and "SECRET_KEY is the published default" in err


def test_make_writes_a_random_key_to_dot_env_once(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=DEBUG\n")
    for _ in range(2):
        subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "secret"], cwd=tmp_path, check=True)
    lines = (tmp_path / ".env").read_text().splitlines()
    keys = [line for line in lines if line.startswith("SECRET_KEY=")]
    assert lines[0] == "LOG_LEVEL=DEBUG" and len(keys) == 1
    key = keys[0].removeprefix("SECRET_KEY=")
    assert len(key) >= 32 and key != DEFAULT_SECRET_KEY
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "secret"], cwd=other, check=True)
    assert (other / ".env").read_text().strip() != keys[0]
