"""The sign-in throttle: simultaneous guesses are all counted before any is checked; counts are per account and
address, so nobody locks an account out from elsewhere; `sahulat staff unlock` clears them."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.db import Database
from bot.staff import accounts, throttle

from .conftest import sahulat

PASSWORD = "correct horse battery"


async def _attempt(db: Database, password: str, client: str, username: str = "agent") -> accounts.LoginResult:
    async with db.session() as session:
        result = await accounts.authenticate(session, username, password, client)
        await session.commit()
        return result


async def _add_agent(db: Database) -> None:
    async with db.session() as session:
        await accounts.create_staff(session, "agent", PASSWORD, "agent")
        await session.commit()


async def test_simultaneous_guesses_are_counted_before_any_is_checked(db: Database) -> None:
    await _add_agent(db)
    results = await asyncio.gather(*(_attempt(db, f"guess {n:04d}", "10.0.0.9") for n in range(40)))
    checked = [r for r in results if not r.throttled]
    assert len(checked) == throttle.MAX_FAILURES_PER_ACCOUNT_AND_CLIENT


async def test_guesses_from_elsewhere_do_not_lock_an_account_out(db: Database) -> None:
    await _add_agent(db)
    assert (await _attempt(db, PASSWORD, "10.0.0.1")).user is not None  # the agent's usual address
    for n in range(throttle.MAX_FAILURES_PER_ACCOUNT_AND_CLIENT + 1):
        await _attempt(db, f"guess {n:04d}", "203.0.113.7")
    assert (await _attempt(db, PASSWORD, "203.0.113.7")).throttled  # the guessing address is stopped
    assert (await _attempt(db, PASSWORD, "198.51.100.3")).user is not None  # any other address is not
    for n in range(throttle.MAX_FAILURES_PER_ACCOUNT + 1):  # spread over many addresses, one guess each
        await _attempt(db, "wrong password", f"192.0.2.{n}")
    assert (await _attempt(db, PASSWORD, "192.0.2.250")).throttled  # a new address is stopped now
    assert (await _attempt(db, PASSWORD, "10.0.0.1")).user is not None  # one that signed in before still gets in


async def test_an_admin_unlocks_an_account(database_url: str, tmp_path: Path) -> None:
    # `sahulat` migrates a SQLite file itself; the fixture's file has no Alembic history, so use a new one there
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}" if database_url.startswith("sqlite") else database_url
    env = {**os.environ, "DATABASE_URL": url}
    code, _, err = await asyncio.to_thread(sahulat, "staff", "unlock", "nobody", env=env)  # (migrates the file)
    assert code == 1 and "no staff account" in err
    db = Database(url)
    try:
        await _unlock(db, env)
    finally:
        await db.dispose()


async def _unlock(db: Database, env: dict[str, str]) -> None:
    await _add_agent(db)
    for n in range(throttle.MAX_FAILURES_PER_ACCOUNT_AND_CLIENT):
        await _attempt(db, f"guess {n:04d}", "10.0.0.1")
    assert (await _attempt(db, PASSWORD, "10.0.0.1")).throttled
    code, out, err = await asyncio.to_thread(sahulat, "staff", "unlock", "Agent", env=env)
    assert code == 0 and "unlocked agent" in out, err
    assert (await _attempt(db, PASSWORD, "10.0.0.1")).user is not None


async def test_past_the_global_failure_budget_only_known_addresses_are_checked(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(throttle.LIMITS, "all", 3)
    await _add_agent(db)
    assert (await _attempt(db, PASSWORD, "10.0.0.1")).user is not None  # known from now on
    for n in range(4):  # a spray: other accounts, other addresses
        await _attempt(db, "wrong password", f"192.0.2.{n}", username=f"user{n}")
    assert (await _attempt(db, PASSWORD, "198.51.100.3")).throttled  # not checked at all
    assert (await _attempt(db, PASSWORD, "10.0.0.1")).user is not None
