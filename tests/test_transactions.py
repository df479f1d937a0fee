"""Message transactions: group commit, the lazy ORM session, and what a failure takes with it (both databases)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import event
from sqlmodel import select

from bot.db import Database
from bot.models import UnansweredQuestion, utcnow
from bot.transactions import Unit

from .conftest import scalar

REMEMBER = """
INSERT INTO processed_message (channel, external_id, user_id, received_at, handled_at)
VALUES ('test', :name, 'u', :now, :now)"""


def remember(  # type: ignore[no-untyped-def]
    name: str, *, then: Callable[[], Awaitable[None]] | None = None, fail: bool = False, runs: list[str] | None = None
):
    """A message body that stores a row named `name`, then optionally waits or fails; `runs` counts its runs."""

    async def body(unit: Unit) -> str:
        if runs is not None:
            runs.append(name)
        await unit.rows(REMEMBER, {"name": name, "now": unit.codec.time_in(utcnow())})
        if then is not None:
            await then()
        if fail:
            raise ValueError(f"{name} failed")
        return name

    return body


async def stored(db: Database) -> list[str]:
    async with db.engine.connect() as connection:
        rows = await connection.exec_driver_sql("SELECT external_id FROM processed_message ORDER BY external_id")
        return [row[0] for row in rows]


@pytest.fixture
async def sqlite_db(tmp_path) -> Database:  # type: ignore[no-untyped-def]
    from .conftest import reset_schema

    url = f"sqlite+aiosqlite:///{tmp_path / 'group.db'}"
    await reset_schema(url)
    database = Database(url)
    yield database  # type: ignore[misc]
    await database.dispose()


def count_commits(db: Database) -> list[int]:
    commits: list[int] = []
    event.listen(db.engine.sync_engine, "commit", lambda _connection: commits.append(1))
    return commits


async def test_messages_waiting_together_share_one_commit(db: Database) -> None:
    commits = count_commits(db)
    names = [f"m{i:02}" for i in range(20)]
    results = await asyncio.gather(*(db.messages.run(remember(name)) for name in names))
    assert results == names  # each caller gets its own result
    assert await stored(db) == names
    assert len(commits) < len(names) // 2  # without grouping: one commit per message


async def test_a_caller_hears_back_only_after_the_commit_that_holds_its_work(sqlite_db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    release = asyncio.Event()
    first = asyncio.create_task(sqlite_db.messages.run(remember("first")))
    second = asyncio.create_task(sqlite_db.messages.run(remember("second", then=release.wait)))
    await asyncio.sleep(0.05)
    assert not first.done()  # its work is done, but the group it is in has not committed yet
    outside = sqlite3.connect(tmp_path / "group.db")
    assert outside.execute("SELECT count(*) FROM processed_message").fetchone() == (0,)
    release.set()
    assert await first == "first"
    assert outside.execute("SELECT count(*) FROM processed_message").fetchone() == (2,)  # durable when it returns
    await second
    outside.close()


async def test_a_failing_message_takes_only_its_own_work_with_it(db: Database) -> None:
    """SQLite rolls back the failing message's savepoint; PostgreSQL runs the group's messages again one by one."""
    results = await asyncio.gather(
        db.messages.run(remember("a")),
        db.messages.run(remember("b", fail=True)),
        db.messages.run(remember("c")),
        return_exceptions=True,
    )
    assert results[0] == "a" and results[2] == "c"
    assert isinstance(results[1], ValueError)
    assert await stored(db) == ["a", "c"]
    assert await db.messages.run(remember("d")) == "d"  # the connection was left clean
    assert await stored(db) == ["a", "c", "d"]


async def test_a_failed_commit_fails_every_message_in_the_group_and_keeps_none(db: Database) -> None:
    """And leaves nothing open behind it: the next group must not commit the failed group's work."""
    failures = iter([True])

    def refuse(_connection) -> None:  # type: ignore[no-untyped-def]
        if next(failures, False):
            raise OSError("disk I/O error")

    event.listen(db.engine.sync_engine, "commit", refuse)
    results = await asyncio.gather(
        *(db.messages.run(remember(name)) for name in ("a", "b", "c")), return_exceptions=True
    )
    assert all(isinstance(result, OSError) for result in results)
    assert await stored(db) == []
    assert await db.messages.run(remember("d")) == "d"  # the next group works
    assert await stored(db) == ["d"]


async def test_a_caller_that_stops_waiting_before_its_turn_is_skipped(sqlite_db: Database) -> None:
    release = asyncio.Event()
    first = asyncio.create_task(sqlite_db.messages.run(remember("first", then=release.wait)))
    await asyncio.sleep(0.01)
    gone = asyncio.create_task(sqlite_db.messages.run(remember("gone")))
    await asyncio.sleep(0.01)
    gone.cancel()
    release.set()
    await first
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await stored(sqlite_db) == ["first"]


async def test_orm_work_joins_the_message_and_rolls_back_with_it(database_url: str) -> None:
    """A flow's ORM session writes in the message's transaction; a failing message loses its ORM rows too."""
    db = Database(database_url)

    def note(text: str, *, fail: bool = False):  # type: ignore[no-untyped-def]
        async def body(unit: Unit) -> None:
            unit.session.add(
                UnansweredQuestion(channel="test", text=text, normalized=text, language="en", intent="clarify")
            )
            await unit.session.flush()
            await remember(text, fail=fail)(unit)

        return body

    results = await asyncio.gather(
        db.messages.run(note("kept")), db.messages.run(note("lost", fail=True)), return_exceptions=True
    )
    assert results[0] is None and isinstance(results[1], ValueError)
    async with db.session() as session:
        texts = [q.text for q in await session.exec(select(UnansweredQuestion))]
    assert texts == ["kept"]
    assert await stored(db) == ["kept"]
    assert await scalar(db, "SELECT count(*) FROM unanswered_question") == 1
    await db.dispose()


async def test_a_group_rolled_back_on_postgres_runs_each_message_again_once(db: Database) -> None:
    """On PostgreSQL the others in a failed group run again; each still stores its work exactly once."""
    runs: list[str] = []
    names = ["a", "b", "c", "d"]
    results = await asyncio.gather(
        *(db.messages.run(remember(name, fail=name == "b", runs=runs)) for name in names), return_exceptions=True
    )
    assert [r if isinstance(r, str) else "failed" for r in results] == ["a", "failed", "c", "d"]
    assert await stored(db) == ["a", "c", "d"]
    if db.engine.dialect.name == "postgresql":
        assert runs.count("a") == 2 and runs.count("c") == 1  # a ran in the group and again alone; c only alone
    else:
        assert runs == names  # SQLite: a savepoint each, nothing runs twice
