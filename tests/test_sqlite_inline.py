"""SQLite on the event loop: a database another process is writing to is awaited without blocking the loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from bot import sqlite_inline
from bot.db import Database


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's writer, as SQLite sees it: a connection inside BEGIN IMMEDIATE."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_a_busy_database_is_awaited_while_the_loop_keeps_serving(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE note (body TEXT)"))
    other = hold_write_lock(path)
    ticks = 0

    async def ticker() -> None:  # other requests this process serves meanwhile
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    async def write() -> None:
        async with db.engine.begin() as connection:
            await connection.execute(text("INSERT INTO note VALUES ('kept')"))

    ticking = asyncio.create_task(ticker())
    writing = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not writing.done()  # waiting for the other writer...
    assert ticks >= 10  # ...without holding up the loop
    other.commit()
    await asyncio.wait_for(writing, 5)
    ticking.cancel()
    async with db.engine.connect() as connection:
        assert (await connection.execute(text("SELECT body FROM note"))).scalar_one() == "kept"
    other.close()
    await db.dispose()


async def test_a_database_busy_beyond_patience_raises(tmp_path: Path) -> None:
    path = tmp_path / "stuck.db"
    sqlite3.connect(path).close()
    other = hold_write_lock(path)
    connection = await sqlite_inline.connect(str(path), patience=0.2)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await connection.execute("BEGIN IMMEDIATE")
    other.rollback()
    await connection.execute("BEGIN IMMEDIATE")  # free again: goes straight through
    await connection.rollback()
    await connection.close()
    other.close()
