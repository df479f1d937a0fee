"""Message transaction designs side by side: a transaction per message (the product) and group commit.

Run: .venv/bin/python benchmarks/bench_transactions.py [--database sqlite postgres] [--levels 1 10 50]
    [--messages 2000]

Both designs run the product's own per-message statements (bot.storage: claim the message, upsert the profile and
conversation, store a changed conversation and the replies) on public SQLAlchemy APIs:

- per message: `bot.storage.transactions.MessageTransactions`, an AsyncSession in `session.begin()` per message;
- per message on a Core connection (a candidate, written here only): `engine.begin()` per message and the same
  statements through `AsyncConnection.execute`, without the ORM session;
- group commit (a candidate, written here only): the messages waiting together run in one AsyncSession
  transaction, each under `session.begin_nested()` (a savepoint, so a failure takes only its own work), with one
  commit for the group; a caller gets its result after that commit.

Prints CPU milliseconds per message as well as wall time: the CPU figure is steadier on a busy machine.

At each level, that many users send messages at once (each user's next message after the last one's reply) until
`--messages` are done. Prints messages per second and p50/p99 per message, per design and database, and the
database alone (one row's commit on a raw driver connection) as the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.db import Database  # noqa: E402
from bot.models import Conversation, utcnow  # noqa: E402
from bot.storage import conversations, replies  # noqa: E402
from bot.storage.conversations import claim_message, load_state, save_state  # noqa: E402
from bot.storage.replies import keep_outcome  # noqa: E402

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
Body = Callable[[AsyncSession], Awaitable[Any]]


def message(user: str, number: int) -> Body:
    """One message's database work, as the dispatcher does it."""

    async def body(session: AsyncSession) -> None:
        now = utcnow()
        if not await claim_message(session, "bench", f"{user}-{number}", user, now):
            return
        state = await load_state(session, "bench", user, "Bench", now, now, dt.timedelta(minutes=1))
        state.conversation.context = {"q": f"question {number}"}
        await save_state(session, state)
        await keep_outcome(session, "bench", f"{user}-{number}", {"language": "en", "replies": [{"text": "ok"}]})

    return body


def core_message(user: str, number: int) -> Callable[[AsyncConnection], Awaitable[None]]:
    """The same statements as `message`, on a Core connection."""

    async def body(connection: AsyncConnection) -> None:
        now = utcnow()
        dialect = connection.dialect.name
        message_id = f"{user}-{number}"
        claim = {"channel": "bench", "external_id": message_id, "user_id": user, "received_at": now, "handled_at": now}
        if (await connection.execute(conversations._claim(dialect), claim)).first() is None:
            return
        profile = {
            "channel": "bench",
            "user_id": user,
            "display_name": "Bench",
            "received_at": now,
            "now": now,
            "window_opened_before": now - dt.timedelta(minutes=1),
        }
        await connection.execute(conversations._upsert_profile(dialect), profile)
        key = {"channel": "bench", "user_id": user, "now": now}
        await connection.execute(conversations._upsert_conversation(dialect), key)
        update = conversations._update(Conversation.__table__, ("context",))
        values = {"context": {"q": f"question {number}"}, "key_channel": "bench", "key_user_id": user}
        await connection.execute(update, values)
        stored = {"language": "en", "replies": [{"text": "ok"}]}
        keep = {"key_channel": "bench", "key_message_id": message_id, "outcome": stored}
        await connection.execute(replies.KEEP, keep)

    return body


class CoreConnection:
    """The candidate: each message in `engine.begin()`, its statements on the Core connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def run(self, body: Callable[[AsyncConnection], Awaitable[Any]], key: object = None) -> Any:
        async with self._engine.begin() as connection:
            return await body(connection)


class GroupCommit:
    """The candidate: waiting messages share one transaction, a savepoint each, and one commit."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        self._waiting: list[tuple[Body, asyncio.Future[Any]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def run(self, body: Body, key: object = None) -> Any:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((body, done))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        return await done

    async def _work(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            try:
                async with self._sessions() as session, session.begin():
                    for body, done in group:
                        try:
                            async with session.begin_nested():
                                results.append((done, await body(session), None))
                        except Exception as exc:
                            results.append((done, None, exc))
            except Exception as exc:  # the commit failed: none of the group stands
                results = [(done, None, exc) for _, done in group]
            for done, result, error in results:
                if error is None:
                    done.set_result(result)
                else:
                    done.set_exception(error)


async def drive(
    run: Callable[..., Awaitable[Any]], users: int, total: int, make: Callable[[str, int], Any] = message
) -> dict[str, float]:
    latencies: list[float] = []
    per_user = max(1, total // users)

    async def user(index: int) -> None:
        for number in range(per_user):
            start = time.perf_counter()
            await run(make(f"u{index}", number), key=("bench", f"u{index}"))
            latencies.append(time.perf_counter() - start)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(user(index) for index in range(users)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    latencies.sort()
    return {
        "per_second": len(latencies) / elapsed,
        "cpu_ms": cpu / len(latencies) * 1000,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


async def fresh(url: str) -> Database:
    db = Database(url, pool_size=20)
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.drop_all)
        await connection.run_sync(SQLModel.metadata.create_all)
    return db


async def database_alone(db: Database, count: int = 300) -> float:
    """Commits per second of one row on one connection, the driver's own statements: the floor of a message."""
    async with db.engine.connect() as connection:
        start = time.perf_counter()
        for number in range(count):
            async with connection.begin():
                await connection.exec_driver_sql(
                    "UPDATE complaint_counter SET value = value + 1 WHERE year = " + str(number % 3)
                )
        return count / (time.perf_counter() - start)


async def bench(name: str, url: str, levels: list[int], total: int) -> None:
    print(f"\n{name}")
    db = await fresh(url)
    print(f"  database alone (one commit, raw SQL): {await database_alone(db):8.0f} commits/s")
    print(f"  {'design':<20}{'users':>6}{'msgs/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/msg':>12}")
    for users in levels:
        for design in ("per message", "per message, Core", "group commit"):
            db = await fresh(url)
            if design == "per message, Core":
                figures = await drive(CoreConnection(db.engine).run, users, total, core_message)
            else:
                runner = db.messages if design == "per message" else GroupCommit(db.engine)
                figures = await drive(runner.run, users, total)
            print(
                f"  {design:<20}{users:>6}{figures['per_second']:>10.0f}"
                f"{figures['p50_ms']:>9.1f}{figures['p99_ms']:>9.1f}{figures['cpu_ms']:>12.2f}"
            )
            await db.dispose()


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for database in args.database:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db" if database == "sqlite" else args.postgres_url
            await bench(database, url, args.levels, args.messages)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", nargs="+", choices=["sqlite", "postgres"], default=["sqlite", "postgres"])
    parser.add_argument("--postgres-url", default=POSTGRES)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--messages", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
