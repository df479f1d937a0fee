"""Message transactions (bot.storage.transactions): one transaction per message on SQLModel's AsyncSession, what a
failure takes with it, savepoints, the order of a user's messages, and lost connections (both databases)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import DATABASE_OUTAGE, Database
from bot.errors import is_transient
from bot.models import ProcessedMessage, UnansweredQuestion, utcnow
from bot.storage.conversations import claim_message

from .conftest import _postgres_url, end_connections, reset_schema, scalar


def remember(  # type: ignore[no-untyped-def]
    name: str, *, then: Callable[[], Awaitable[None]] | None = None, fail: bool = False, runs: list[str] | None = None
):
    """A message body that claims a message named `name`, then optionally waits or fails; `runs` counts its runs."""

    async def body(session: AsyncSession) -> str:
        if runs is not None:
            runs.append(name)
        assert await claim_message(session, "test", name, "u", utcnow())
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
async def pg() -> AsyncIterator[Database]:
    url = _postgres_url()
    await reset_schema(url)
    database = Database(url)
    yield database
    await database.dispose()


async def test_a_message_commits_its_work_and_a_failure_keeps_none_of_it(db: Database) -> None:
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


async def test_flush_integrity_error_rollback_to_savepoint_then_carry_on(db: Database) -> None:
    """Inside one message: a flush that breaks a unique key is rolled back to its savepoint, and the message goes
    on and commits the rest (on PostgreSQL a failed statement would otherwise abort the whole transaction)."""
    await db.messages.run(remember("taken"))

    async def body(session: AsyncSession) -> str:
        try:
            async with session.begin_nested():
                session.add(ProcessedMessage(channel="test", external_id="taken", user_id="u"))
                await session.flush()
        except IntegrityError:
            outcome = "duplicate noticed"
        else:
            outcome = "no conflict"
        session.add(UnansweredQuestion(channel="test", text="q", normalized="q", language="en", intent="x"))
        await session.flush()
        assert await claim_message(session, "test", "after", "u", utcnow())
        return outcome

    assert await db.messages.run(body, key="u") == "duplicate noticed"
    assert await stored(db) == ["after", "taken"]
    assert await scalar(db, "SELECT count(*) FROM unanswered_question") == 1


async def test_an_integrity_error_without_a_savepoint_fails_only_that_message(db: Database) -> None:
    await db.messages.run(remember("taken"))

    async def duplicate(session: AsyncSession) -> None:
        assert await claim_message(session, "test", "lost", "u", utcnow())
        session.add(ProcessedMessage(channel="test", external_id="taken", user_id="u"))
        await session.flush()

    with pytest.raises(IntegrityError) as failed:
        await db.messages.run(duplicate)
    assert not is_transient(failed.value)  # a bug or bad data: a dead letter, not a 503
    assert await db.messages.run(remember("next")) == "next"
    assert await stored(db) == ["next", "taken"]


async def test_one_users_messages_run_in_order_of_arrival(db: Database) -> None:
    order: list[str] = []
    release = asyncio.Event()

    def step(name: str, wait: bool = False):  # type: ignore[no-untyped-def]
        async def run(session: AsyncSession) -> str:
            if wait:
                await release.wait()
            order.append(name)
            return name

        return run

    first = asyncio.create_task(db.messages.run(step("first", wait=True), key="user"))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(db.messages.run(step("waiting"), key="user"))
    await asyncio.sleep(0.01)
    assert order == []  # it waits for the first
    release.set()
    newcomer = asyncio.create_task(db.messages.run(step("newcomer"), key="user"))  # must not overtake
    assert await asyncio.gather(first, waiting, newcomer) == ["first", "waiting", "newcomer"]
    assert order == ["first", "waiting", "newcomer"]


async def test_on_postgres_two_users_messages_run_side_by_side(pg: Database) -> None:
    """Each of these messages waits for the other to start: they finish only if their transactions overlap."""
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    async def meet(session: AsyncSession, me: str, other: str) -> str:
        assert await claim_message(session, "test", me, me, utcnow())
        started[me].set()
        async with asyncio.timeout(5):
            await started[other].wait()
        return me

    both = await asyncio.gather(
        pg.messages.run(lambda s: meet(s, "a", "b"), key="user-a"),
        pg.messages.run(lambda s: meet(s, "b", "a"), key="user-b"),
    )
    assert both == ["a", "b"]
    assert await stored(pg) == ["a", "b"]


async def test_on_sqlite_the_process_messages_take_turns_at_the_one_writer(tmp_path: Path) -> None:
    """Many messages at once, each holding its transaction across an await: none meets "database is locked"."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}"
    await reset_schema(url)
    db = Database(url)
    names = [f"m{index:02d}" for index in range(40)]
    results = await asyncio.gather(
        *(db.messages.run(remember(name, then=lambda: asyncio.sleep(0)), key=name) for name in names)
    )
    assert results == names
    assert await stored(db) == names
    await db.dispose()


async def test_on_sqlite_another_process_holding_the_write_lock_is_waited_for(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    await reset_schema(url)
    db = Database(url)
    other = sqlite3.connect(make_url(url).database or "", isolation_level=None)  # another process's connection
    other.execute("BEGIN IMMEDIATE")
    other.execute(
        "INSERT INTO processed_message (channel, external_id, user_id, received_at, handled_at, delivered)"
        " VALUES ('test', 'theirs', 'x', '2026-01-01', '2026-01-01', 0)"
    )
    message = asyncio.create_task(db.messages.run(remember("ours")))
    await asyncio.sleep(0.3)
    assert not message.done()  # waiting for the lock, not failed
    other.execute("COMMIT")
    other.close()
    assert await message == "ours"
    assert await stored(db) == ["ours", "theirs"]
    await db.dispose()


async def test_on_sqlite_an_isolation_level_can_be_set_on_the_engine(tmp_path: Path) -> None:
    """Stock SQLAlchemy behaviour on the SQLite engine (an imitation of the driver once broke it)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'iso.db'}"
    await reset_schema(url)
    db = Database(url)
    engine = db.engine.execution_options(isolation_level="SERIALIZABLE")
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM processed_message"))).scalar() == 0
    await db.dispose()


async def test_on_postgres_a_connection_lost_mid_message_is_an_outage_and_the_redelivery_works(pg: Database) -> None:
    async def lose_the_connection(session: AsyncSession) -> str:
        assert await claim_message(session, "test", "m", "u", utcnow())
        pid = (await session.exec(text("SELECT pg_backend_pid()"))).scalar()
        await end_connections("pid = $1", pid)
        assert await claim_message(session, "test", "m2", "u", utcnow())
        return "m"

    with pytest.raises(DATABASE_OUTAGE) as lost:
        await pg.messages.run(lose_the_connection)
    assert is_transient(lost.value), repr(lost.value)
    assert await stored(pg) == []
    assert await pg.messages.run(remember("m")) == "m"  # the redelivery
    assert await stored(pg) == ["m"]


async def test_on_postgres_a_failed_commit_keeps_nothing_and_the_next_message_works(pg: Database) -> None:
    """The server ends the connection after the message's work: the commit fails, transiently, and none of it
    stands."""

    async def then_server_gone(session: AsyncSession) -> str:
        assert await claim_message(session, "test", "a", "u", utcnow())
        pid = (await session.exec(text("SELECT pg_backend_pid()"))).scalar()
        await end_connections("pid = $1", pid)
        return "a"

    with pytest.raises(DATABASE_OUTAGE) as failed:
        await pg.messages.run(then_server_gone)
    assert is_transient(failed.value)
    assert await stored(pg) == []
    assert await pg.messages.run(remember("b")) == "b"
    assert await stored(pg) == ["b"]
