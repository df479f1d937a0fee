"""Message transactions: group commit, the lazy ORM session, and what a failure takes with it (both databases)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot.db import DATABASE_OUTAGE, Database
from bot.errors import is_transient
from bot.models import UnansweredQuestion, utcnow
from bot.transactions import GroupCommit, Unit

from .conftest import _postgres_url, end_connections, reset_schema, scalar

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
    url = f"sqlite+aiosqlite:///{tmp_path / 'group.db'}"
    await reset_schema(url)
    database = Database(url)
    yield database  # type: ignore[misc]
    await database.dispose()


def sent_statements(db: Database) -> list[str]:
    """PostgreSQL: every statement sent on the connections the engine opens from now on, as asyncpg logs them."""
    statements: list[str] = []
    event.listen(
        db.engine.sync_engine,
        "connect",
        lambda dbapi_connection, _record: dbapi_connection.driver_connection.add_query_logger(
            lambda record: statements.append(record.query)
        ),
    )
    return statements


def count_commits(db: Database) -> Callable[[], int]:
    """How many commits have been sent: SQLAlchemy's on SQLite; on PostgreSQL the lanes send COMMIT on asyncpg
    themselves, so they are read from what asyncpg sent."""
    if db.engine.dialect.name != "sqlite":
        statements = sent_statements(db)
        return lambda: sum(statement.startswith("COMMIT") for statement in statements)
    commits: list[int] = []
    event.listen(db.engine.sync_engine, "commit", lambda _connection: commits.append(1))
    return lambda: len(commits)


async def test_messages_waiting_together_share_one_commit(db: Database) -> None:
    commits = count_commits(db)
    names = [f"m{i:02}" for i in range(20)]
    results = await asyncio.gather(*(db.messages.run(remember(name)) for name in names))
    assert results == names  # each caller gets its own result
    assert await stored(db) == names
    assert 0 < commits() < len(names) // 2  # without grouping: one commit per message


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


async def kill_own_backend(unit: Unit) -> None:
    """PostgreSQL: end this transaction's server process from another connection (the server going away)."""
    ((pid,),) = await unit.rows("SELECT pg_backend_pid()", {})
    await end_connections("pid = $1", pid)


async def test_a_failed_commit_fails_every_message_in_the_group_and_keeps_none(db: Database) -> None:
    """And leaves nothing open behind it: the next group must not commit the failed group's work.

    SQLite: the commit raises a disk error. PostgreSQL: the server process ends after the last message's work,
    so the commit meets a closed connection.
    """
    bodies = [remember(name) for name in ("a", "b", "c")]
    if db.engine.dialect.name == "sqlite":
        failures = iter([True])

        def refuse(_connection) -> None:  # type: ignore[no-untyped-def]
            if next(failures, False):
                raise OSError("disk I/O error")

        event.listen(db.engine.sync_engine, "commit", refuse)
    else:
        last = bodies[-1]

        async def last_then_server_gone(unit: Unit) -> str:
            result = await last(unit)
            await kill_own_backend(unit)
            return result

        bodies[-1] = last_then_server_gone
    results = await asyncio.gather(*(db.messages.run(body) for body in bodies), return_exceptions=True)
    assert all(isinstance(result, DATABASE_OUTAGE) and is_transient(result) for result in results), results
    assert await stored(db) == []
    assert await db.messages.run(remember("d")) == "d"  # the next group works
    assert await stored(db) == ["d"]


async def test_a_busy_lane_keeps_its_connection_from_one_message_to_the_next(db: Database) -> None:
    """Checking a connection out of the pool for each group cost more CPU than a quiet bot's message itself."""
    checkouts: list[int] = []
    event.listen(db.engine.sync_engine, "checkout", lambda *_args: checkouts.append(1))
    for name in ("a", "b", "c"):  # one after another, a little apart (well within the linger): a group each
        assert await db.messages.run(remember(name), key="user") == name
        await asyncio.sleep(0.05)
    assert len(checkouts) == 1
    assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    await db.messages.close()
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]  # given back before the engine goes
    assert await stored(db) == ["a", "b", "c"]


async def test_an_idle_lane_gives_its_connection_back_and_takes_one_again(db: Database) -> None:
    lane = GroupCommit(db.engine, linger=0.05)
    assert await lane.run(remember("a")) == "a"
    for _ in range(100):  # it waits `linger` seconds for another message first
        if db.engine.pool.checkedout() == 0:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.05)
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await lane.run(remember("b")) == "b"
    await lane.close()
    assert await stored(db) == ["a", "b"]


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


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    """PostgreSQL only: it runs messages in several lanes and sends statements straight to asyncpg."""
    url = _postgres_url()
    await reset_schema(url)
    database = Database(url)
    yield database
    await database.dispose()


def keys_in_different_lanes(db: Database) -> tuple[str, str]:
    lanes = len(db.messages)
    first = "user-0"
    other = next(f"user-{i}" for i in range(1, 1000) if hash(f"user-{i}") % lanes != hash(first) % lanes)
    return first, other


async def test_on_postgres_two_users_messages_run_side_by_side(pg: Database) -> None:
    """Each of these messages waits for the other to start: they finish only if their transactions overlap."""
    assert len(pg.messages) == 5  # half of the default pool of 10
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    async def meet(unit: Unit, me: str, other: str) -> str:
        await remember(me)(unit)
        started[me].set()
        await asyncio.wait_for(started[other].wait(), timeout=5)
        return me

    first, other = keys_in_different_lanes(pg)
    results = await asyncio.gather(
        pg.messages.run(lambda unit: meet(unit, "a", "b"), key=first),
        pg.messages.run(lambda unit: meet(unit, "b", "a"), key=other),
    )
    assert results == ["a", "b"]
    assert await stored(pg) == ["a", "b"]


async def test_one_users_messages_keep_their_order(db: Database) -> None:
    """The same user's next message waits for the one before it, even while other users' messages run."""
    order: list[str] = []
    release = asyncio.Event()

    def step(name: str, then: Callable[[], Awaitable[None]] | None = None):  # type: ignore[no-untyped-def]
        async def body(unit: Unit) -> str:
            order.append(name)
            return await remember(name, then=then)(unit)

        return body

    first, other = keys_in_different_lanes(db) if len(db.messages) > 1 else ("user-0", "user-1")
    one = asyncio.create_task(db.messages.run(step("1st", then=release.wait), key=first))
    await asyncio.sleep(0.01)
    two = asyncio.create_task(db.messages.run(step("2nd"), key=first))
    elsewhere = asyncio.create_task(db.messages.run(step("other"), key=other))
    await asyncio.sleep(0.05)
    assert "2nd" not in order
    release.set()
    await asyncio.gather(one, two, elsewhere)
    assert order.index("1st") < order.index("2nd")
    assert await stored(db) == ["1st", "2nd", "other"]


async def test_on_postgres_message_statements_go_straight_to_asyncpg_inside_the_transaction(pg: Database) -> None:
    """None of a message's statements goes through SQLAlchemy, and they still roll back with it."""
    seen: list[str] = []
    event.listen(pg.engine.sync_engine, "before_cursor_execute", lambda *args: seen.append(args[2]))

    async def two_rows_then_fail(unit: Unit) -> None:
        now = unit.codec.time_in(utcnow())
        await unit.rows(REMEMBER, {"name": "first", "now": now})
        await unit.rows(REMEMBER, {"name": "second", "now": now})
        raise ValueError("fails after both rows")

    with pytest.raises(ValueError):
        await pg.messages.run(two_rows_then_fail)
    assert await stored(pg) == []  # the statements asyncpg ran were in the transaction
    assert await pg.messages.run(remember("later")) == "later"
    assert await stored(pg) == ["later"]
    assert not [sql for sql in seen if "processed_message (" in sql]


async def test_on_postgres_a_commit_begins_the_next_transaction_and_the_lane_ends_it_before_giving_back(
    pg: Database,
) -> None:
    """One round trip per group saved: its BEGIN went with the last commit. The connection goes back clean."""
    statements = sent_statements(pg)
    for name in ("a", "b", "c"):  # one after another: a group each
        await pg.messages.run(remember(name), key="user")
    await pg.messages.close()
    await asyncio.sleep(0)  # asyncpg hands the log records over on the next turn of the loop
    assert [s for s in statements if "processed_message" not in s] == [
        "BEGIN",
        "COMMIT; BEGIN",
        "COMMIT; BEGIN",
        "COMMIT; BEGIN",
        "ROLLBACK",  # the transaction begun ahead, empty, ended when the lane went idle
    ]
    assert await stored(pg) == ["a", "b", "c"]
    idle_in_transaction = await scalar(
        pg,
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    )
    assert idle_in_transaction == 0


async def test_on_postgres_a_connection_lost_between_statements_is_an_outage_and_the_retry_works(pg: Database) -> None:
    async def lose_the_connection(unit: Unit) -> str:
        now = unit.codec.time_in(utcnow())
        await unit.rows(REMEMBER, {"name": "m", "now": now})
        await kill_own_backend(unit)
        await unit.rows(REMEMBER, {"name": "m2", "now": now})
        return "m"

    with pytest.raises(DATABASE_OUTAGE) as lost:
        await pg.messages.run(lose_the_connection)
    assert is_transient(lost.value), repr(lost.value)
    assert await stored(pg) == []
    assert await pg.messages.run(remember("m")) == "m"  # the redelivery
    assert await stored(pg) == ["m"]


@pytest.mark.parametrize("last", ["committed", "rolled back"])
async def test_on_postgres_a_lane_whose_connection_the_server_ended_runs_its_messages_on_a_fresh_one(
    pg: Database, last: str
) -> None:
    """A restart must not cost a 503: after a commit the lane's next transaction was begun ahead, so its first
    statement meets the closed connection; after a rollback the lane's BEGIN does."""
    if last == "committed":
        assert await pg.messages.run(remember("a"), key="u") == "a"
    else:
        with pytest.raises(ValueError):
            await pg.messages.run(remember("a", fail=True), key="u")
    assert pg.engine.pool.checkedout() == 1  # type: ignore[attr-defined]  # the lane kept its connection
    await end_connections()
    runs: list[str] = []
    assert await asyncio.gather(*(pg.messages.run(remember(n, runs=runs), key="u") for n in ("b", "c"))) == ["b", "c"]
    assert await stored(pg) == (["a", "b", "c"] if last == "committed" else ["b", "c"])
    assert sorted(set(runs)) == ["b", "c"]


async def test_on_postgres_a_server_that_ends_idle_transactions_soon_costs_no_message(pg: Database) -> None:
    """A commit begins the next transaction ahead, and the lane keeps it open while it waits for work: a server
    whose idle_in_transaction_session_timeout is shorter than that wait ends the session. The next message runs on
    a fresh connection."""

    async def short_patience(unit: Unit) -> str:
        await unit.rows("SET idle_in_transaction_session_timeout = 50", {})  # for the session, once committed
        return await remember("a")(unit)

    assert await pg.messages.run(short_patience, key="u") == "a"
    await asyncio.sleep(0.3)  # well within the lane's linger: it still holds the connection the server ended
    assert await pg.messages.run(remember("b"), key="u") == "b"
    assert await stored(pg) == ["a", "b"]


def hold_back(name: str, *, see: str | None = None, fail: bool = False, runs: list[str] | None = None):  # type: ignore[no-untyped-def]
    """A message body that holds back a row named `name` (Unit.later) and reports whether it sees row `see`."""

    async def body(unit: Unit) -> bool | None:
        if runs is not None:
            runs.append(name)
        seen = None
        if see is not None:
            found = await unit.rows("SELECT count(*) FROM processed_message WHERE external_id = :see", {"see": see})
            seen = found[0][0] == 1
        unit.later(REMEMBER, {"name": name, "now": unit.codec.time_in(utcnow())})
        if fail:
            raise ValueError(f"{name} failed")
        return seen

    return body


async def test_held_back_writes_are_seen_by_the_same_users_next_message_and_commit_with_the_group(
    db: Database,
) -> None:
    results = await asyncio.gather(
        db.messages.run(hold_back("a1"), key="a"),
        db.messages.run(hold_back("b1", see="a1"), key="b"),
        db.messages.run(hold_back("a2", see="a1"), key="a"),
    )
    assert results[2] is True  # the same user's earlier write was sent before their next message ran
    assert await stored(db) == ["a1", "a2", "b1"]


async def test_a_failing_message_drops_its_held_back_writes(db: Database) -> None:
    results = await asyncio.gather(
        db.messages.run(hold_back("kept")), db.messages.run(hold_back("lost", fail=True)), return_exceptions=True
    )
    assert results[0] is None and isinstance(results[1], ValueError)
    assert await stored(db) == ["kept"]


async def test_held_back_writes_that_fail_roll_the_group_back_and_each_message_runs_alone(db: Database) -> None:
    """The batch cannot say whose write failed: each message runs again on its own, and only the culprit fails."""
    await db.messages.run(remember("taken"))
    runs: list[str] = []
    results = await asyncio.gather(
        db.messages.run(hold_back("x", runs=runs)),
        db.messages.run(hold_back("taken", runs=runs)),  # its row already exists: the insert violates the key
        db.messages.run(hold_back("y", runs=runs)),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], sqlite3.IntegrityError | IntegrityError | asyncpg.UniqueViolationError)
    assert await stored(db) == ["taken", "x", "y"]
