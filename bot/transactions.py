"""Message transactions: each message's work commits before its reply goes out, at the least cost per message.

Every incoming message runs one transaction (claim the message id, load and save the user's state, whatever the
handler writes). Two things made that cost several times the database's own work:

- SQLAlchemy's ORM session and transaction machinery, paid per message. A message's statements now run as plain
  SQL on the driver (`Unit.rows`); the ORM session a flow needs (filing a complaint, say) is opened only when a
  handler first asks for it, inside the message's transaction, in a savepoint of its own.
- BEGIN, COMMIT and a connection checkout per message (on PostgreSQL, round trips; on SQLite, one writer at a
  time anyway). `GroupCommit` runs the messages waiting in a lane one after another on one connection, in
  one transaction, and commits once for all of them (group commit). A caller gets its result only after the
  commit that holds its work. With nobody waiting the group is a single message, so a quiet bot answers as soon
  as before. On PostgreSQL several lanes run side by side (`Lanes`), each user's messages in one of them.

A message that fails takes only its own work with it. On SQLite each message runs in a savepoint (in-process, so
nearly free) and a failure rolls back that savepoint. On PostgreSQL a savepoint would cost two more round trips
per message, so a failure rolls the group back and each of its messages runs again in a transaction of its own;
the same happens when groups in two processes deadlock on the same users' rows (PostgreSQL breaks the deadlock
by failing one statement), so the messages involved are still handled once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar

from sqlalchemy import JSON, Boolean
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import TypeEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import UTCDateTime
from bot.sqlite_inline import InlineConnection

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_GROUP = 64  # messages per group commit: bounds how long one commit keeps the others waiting


@cache
def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` placeholders as PostgreSQL's `$1, $2 ...`, and the names in that order (worked out once per SQL)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"(?<!:):([a-z_]+)", number, sql), tuple(names)


def _positional(sql: str, values: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """`sql` for asyncpg, and `values` in its placeholders' order."""
    numbered, names = _numbered(sql)
    return numbered, tuple(values[name] for name in names)


@dataclass(frozen=True)
class Codec:
    """The dialect's own converters for the column types plain SQL binds and reads, so rows are stored exactly
    as the ORM stores them and read back the same."""

    time_in: Callable[[Any], Any]
    time_out: Callable[[Any], Any]
    json_in: Callable[[Any], Any]
    json_out: Callable[[Any], Any]
    boolean_in: Callable[[Any], Any]

    @property
    def false(self) -> Any:
        return self.boolean_in(False)

    @staticmethod
    @cache
    def of(dialect: Dialect) -> Codec:
        def identity(value: Any) -> Any:
            return value

        def bind(type_: TypeEngine[Any]) -> Callable[[Any], Any]:
            return type_.dialect_impl(dialect).bind_processor(dialect) or identity

        def result(type_: TypeEngine[Any]) -> Callable[[Any], Any]:
            return type_.dialect_impl(dialect).result_processor(dialect, None) or identity

        return Codec(
            time_in=bind(UTCDateTime()),
            time_out=result(UTCDateTime()),
            json_in=bind(JSON()),
            json_out=result(JSON()),
            boolean_in=bind(Boolean()),
        )


@dataclass(slots=True)
class _Driver:
    """The driver connection under one transaction's SQLAlchemy connection, where plain statements run.

    On PostgreSQL a statement goes straight to asyncpg only once SQLAlchemy has begun the transaction (its asyncpg
    adapter sends BEGIN with the first statement it runs), so nothing ever runs outside the transaction.
    """

    sqlite: sqlite3.Connection | None = None
    asyncpg: Any = None
    begun: bool = False
    later: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)  # held-back writes: SQL -> argument rows
    later_keys: set[Hashable] = field(default_factory=set)  # the users whose messages held them back

    async def send_later(self, connection: AsyncConnection) -> None:
        """Send the held-back writes, one batch per statement (asyncpg pipelines a batch: one round trip)."""
        batches, self.later = self.later, {}
        self.later_keys.clear()
        for sql, rows in batches.items():
            if self.begun:
                await self.asyncpg.executemany(sql, rows)
            else:
                await connection.exec_driver_sql(sql, rows)  # SQLAlchemy begins the transaction
                self.begun = True


class Unit:
    """One message's part of a transaction: plain SQL on its connection, and an ORM session only if asked for."""

    __slots__ = ("connection", "codec", "_driver", "_key", "_session")

    def __init__(self, connection: AsyncConnection, driver: _Driver, key: Hashable = None) -> None:
        self.connection = connection
        self.codec = Codec.of(connection.dialect)
        self._driver = driver
        self._key = key
        self._session: AsyncSession | None = None

    async def rows(self, sql: str, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run `sql` (with `:name` placeholders) in the message's transaction, on the driver.

        SQLite: straight on sqlite3 (the transaction holds the write lock, so nothing waits). PostgreSQL: the
        transaction's first statement through SQLAlchemy (which begins the transaction), the rest straight on
        asyncpg, which costs a third of the CPU of SQLAlchemy's driver-SQL path per statement.
        """
        driver = self._driver
        if driver.sqlite is not None:
            return driver.sqlite.execute(sql, values).fetchall()
        numbered, arguments = _positional(sql, values)
        if driver.begun:
            return [tuple(record) for record in await driver.asyncpg.fetch(numbered, *arguments)]
        result = await self.connection.exec_driver_sql(numbered, arguments)
        driver.begun = True
        return [tuple(row) for row in result.all()] if result.returns_rows else []

    def later(self, sql: str, values: dict[str, Any]) -> None:
        """A write that nothing in the message reads back: on PostgreSQL held back and sent, with the group's other
        writes of the same statement, in one batch before the commit (SQLite runs it at once, in-process).

        The same user's next message in the group sees it: the batch is sent before that message starts.
        """
        driver = self._driver
        if driver.sqlite is not None:
            driver.sqlite.execute(sql, values)
            return
        numbered, arguments = _positional(sql, values)
        driver.later.setdefault(numbered, []).append(arguments)
        driver.later_keys.add(self._key)

    @property
    def session(self) -> AsyncSession:
        """An ORM session in the message's transaction, in a savepoint of its own; opened on first use."""
        if self._session is None:
            self._session = AsyncSession(
                bind=self.connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
        return self._session

    async def finish(self) -> None:
        """Write what the ORM session holds into the message's transaction (the outer commit makes it durable)."""
        if self._session is not None:
            await self._session.commit()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


Body = Callable[[Unit], Awaitable[T]]


@dataclass(eq=False)
class _Job(Generic[T]):
    body: Body[T]
    done: asyncio.Future[T]
    key: Hashable = None


async def _run_unit(connection: AsyncConnection, driver: _Driver, job: _Job[T]) -> T:
    unit = Unit(connection, driver, job.key)
    try:
        result = await job.body(unit)
        await unit.finish()
        return result
    finally:
        await unit.close()


class GroupCommit:
    """A process's message transactions, run in arrival order on one connection and committed in groups."""

    def __init__(self, engine: AsyncEngine, max_group: int = MAX_GROUP) -> None:
        self._engine = engine
        self._max_group = max_group
        self._queue: deque[_Job[Any]] = deque()
        self._worker: asyncio.Task[None] | None = None

    async def run(self, body: Body[T], key: Hashable = None) -> T:
        """Run `body` in a message transaction; `key` names its user (whose writes held back it must see)."""
        job: _Job[T] = _Job(body, asyncio.get_running_loop().create_future(), key)
        self._queue.append(job)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="group-commit")
        return await job.done  # a caller that stops waiting before its turn is skipped: nothing of it is done

    async def _work(self) -> None:
        while self._queue:
            await self._group()

    async def _group(self) -> None:
        """One transaction for the messages waiting now; each caller is told how its message ended."""
        taken: list[_Job[Any]] = []
        results: list[tuple[_Job[Any], Any]] = []
        try:
            rolled_back = await self._transaction(taken, results)
        except BaseException as exc:  # BEGIN or COMMIT failed, or the worker is being stopped: none of it stands
            if not taken:  # it failed before any message ran: those waiting would meet the same failure
                taken.extend(self._queue)
                self._queue.clear()
            for job in taken:
                _settle(job, exc)
            if not isinstance(exc, Exception):
                raise
            log.warning("message transaction failed (%s); %d messages not stored", type(exc).__name__, len(taken))
            return
        if rolled_back:  # PostgreSQL: each of the group's messages runs again on its own
            for job in taken:
                await self._alone(job)
            return
        for job, result in results:
            _settle(job, None, result)

    async def _transaction(self, taken: list[_Job[Any]], results: list[tuple[_Job[Any], Any]]) -> bool:
        """Run waiting messages one after another, then commit; True when the group was rolled back instead."""
        async with self._engine.connect() as connection:
            try:
                await connection.begin()
                driver = await _driver_of(connection)
                while self._queue and len(taken) < self._max_group:
                    job = self._queue.popleft()
                    if job.done.done():  # its caller stopped waiting before its turn
                        continue
                    taken.append(job)
                    if job.key in driver.later_keys and not await self._send_later_or_roll_back(connection, driver):
                        return True  # the user's earlier writes first
                    if not await self._step(connection, driver, job, results):
                        await connection.rollback()
                        return True
                    if not self._queue:
                        await asyncio.sleep(0)  # messages already received and ready to run join this commit
                if not await self._send_later_or_roll_back(connection, driver):
                    return True
                await connection.commit()
                return False
            except BaseException:
                # SQLAlchemy counts a failed commit as the end of the transaction and would return the connection
                # to the pool without a rollback, its transaction (SQLite's write lock, or work the next group
                # would commit) still open. Closing it discards whatever it holds.
                await connection.invalidate()
                raise

    @staticmethod
    async def _step(
        connection: AsyncConnection,
        driver: _Driver,
        job: _Job[Any],
        results: list[tuple[_Job[Any], Any]],
    ) -> bool:
        """Run one message; False when it failed on PostgreSQL, where the whole group must be rolled back.

        On SQLite the message has a savepoint: a failure rolls back its own work and its caller gets the error.
        """
        sqlite = driver.sqlite
        if sqlite is not None:
            sqlite.execute("SAVEPOINT message")
        try:
            result = await _run_unit(connection, driver, job)
        except Exception as exc:
            if sqlite is None:
                return False
            sqlite.execute("ROLLBACK TO message")
            _settle(job, exc)
        else:
            results.append((job, result))
        if sqlite is not None:
            sqlite.execute("RELEASE message")
        return True

    @staticmethod
    async def _send_later_or_roll_back(connection: AsyncConnection, driver: _Driver) -> bool:
        """Send the group's held-back writes; False (the group rolled back) when they fail: which message's write
        failed is not known, so each message runs again on its own."""
        try:
            await driver.send_later(connection)
        except Exception:
            await connection.rollback()
            return False
        return True

    async def _alone(self, job: _Job[Any]) -> None:
        """A message in a transaction of its own (after its group failed on PostgreSQL)."""
        if job.done.done():
            return
        try:
            async with self._engine.connect() as connection, connection.begin():
                driver = await _driver_of(connection)
                result = await _run_unit(connection, driver, job)
                await driver.send_later(connection)
        except Exception as exc:
            _settle(job, exc)
        else:
            _settle(job, None, result)


class Lanes:
    """Group commits side by side, each on a connection of its own; a user's messages always take the same lane.

    One lane runs its groups one after another, and on PostgreSQL each statement is a round trip: with the
    database a few tenths of a millisecond away, one lane kept the process waiting on the network while CPU was
    free. Lanes overlap those waits. Keeping each user to one lane keeps their messages in arrival order, and lanes
    never wait for each other on a user's rows (the only row they share is the complaint counter, which a lane
    waits for and never holds while waiting for another lane). SQLite has one writer: one lane.
    """

    def __init__(self, engine: AsyncEngine, lanes: int, max_group: int = MAX_GROUP) -> None:
        self._lanes = tuple(GroupCommit(engine, max_group) for _ in range(max(1, lanes)))

    def __len__(self) -> int:
        return len(self._lanes)

    async def run(self, body: Body[T], key: Hashable = None) -> T:
        """Run `body` in a message transaction in `key`'s lane (the user, so their messages keep their order)."""
        return await self._lanes[hash(key) % len(self._lanes)].run(body, key)


async def _driver_of(connection: AsyncConnection) -> _Driver:
    """The driver connection under `connection`: sqlite3 on SQLite, asyncpg on PostgreSQL."""
    driver = (await connection.get_raw_connection()).driver_connection
    if connection.dialect.name != "sqlite":
        return _Driver(asyncpg=driver)
    if not isinstance(driver, InlineConnection):  # every SQLite engine is made by bot.db.create_engine
        raise TypeError(f"expected bot.sqlite_inline's connection, got {type(driver).__name__}")
    return _Driver(sqlite=driver.direct)


def _settle(job: _Job[Any], error: BaseException | None, result: Any = None) -> None:
    if job.done.done():
        return
    if error is None:
        job.done.set_result(result)
    elif isinstance(error, Exception):
        job.done.set_exception(error)
    else:
        job.done.set_exception(RuntimeError(f"message transaction stopped ({type(error).__name__})"))
