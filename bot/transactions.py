"""Message transactions: each message's work commits before its reply goes out, at the least cost per message.

Every incoming message runs one transaction (claim the message id, load and save the user's state, whatever the
handler writes). Three things made that cost several times the database's own work:

- SQLAlchemy's ORM session and transaction machinery, paid per message. A message's statements now run as plain
  SQL on the driver (`Unit.rows`); the ORM session a flow needs (filing a complaint, say) is opened only when a
  handler first asks for it, inside the message's transaction.
- BEGIN and COMMIT per message (on PostgreSQL, round trips; on SQLite, one writer at a time anyway).
  `GroupCommit` runs the messages waiting in a lane one after another on one connection, in one transaction,
  and commits once for all of them (group commit). A caller gets its result only after the commit that holds
  its work. With nobody waiting the group is a single message, so a quiet bot answers as soon as before. On
  PostgreSQL several lanes run side by side (`Lanes`), each user's messages in one of them.
- A connection checkout per transaction, and on PostgreSQL SQLAlchemy's BEGIN and COMMIT: together more CPU than
  a quiet bot's message itself. A lane keeps its connection while it is busy (`_Lease`), and on PostgreSQL sends
  BEGIN and COMMIT on asyncpg itself.

A message that fails takes only its own work with it. On SQLite each message runs in a savepoint (in-process, so
nearly free; an ORM session gets one of its own inside it) and a failure rolls back that savepoint. On
PostgreSQL a savepoint would cost two more round trips per message, so a failure rolls the group back and each
of its messages runs again in a transaction of its own; the same happens when groups in two processes deadlock
on the same users' rows (PostgreSQL breaks the deadlock by failing one statement), so the messages involved are
still handled once, and when the server ended the lane's connection (a restart): they run again on a fresh one.
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

from bot.errors import is_transient
from bot.models import UTCDateTime
from bot.sqlite_inline import InlineConnection

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_GROUP = 64  # messages per group commit: bounds how long one commit keeps the others waiting
LINGER_SECONDS = 1.0  # how long an idle lane keeps its connection, waiting for the next message


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
    """The driver connection under one transaction, where plain statements run, and the writes held back in it."""

    sqlite: sqlite3.Connection | None = None
    asyncpg: Any = None
    later: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)  # held-back writes: SQL -> argument rows
    later_keys: set[Hashable] = field(default_factory=set)  # the users whose messages held them back

    async def send_later(self) -> None:
        """Send the held-back writes, one batch per statement (asyncpg pipelines a batch: one round trip)."""
        batches, self.later = self.later, {}
        self.later_keys.clear()
        for sql, rows in batches.items():
            await self.asyncpg.executemany(sql, rows)


class ConnectionLost(ConnectionError):
    """The server ended a message transaction's connection under it (a restart, say). asyncpg reports a statement
    on a connection already closed as a plain InterfaceError ("connection is closed"), which says nothing about a
    lost connection by type or SQLSTATE; the lane knows it lost the connection (asyncpg's `is_closed()`), so it
    says so with this (transient, see bot.errors)."""


def _meaning(error: BaseException, lost: bool) -> BaseException:
    """`error`, or ConnectionLost wrapping it when the connection is known to be gone and `error` does not say so."""
    if not lost or not isinstance(error, Exception) or is_transient(error):
        return error
    wrapped = ConnectionLost(f"the database connection was lost ({type(error).__name__}: {error})")
    wrapped.__cause__ = error
    return wrapped


class _Lease:
    """A lane's connection, kept from one group to the next while messages keep coming.

    Checking a connection out of SQLAlchemy's pool and back, and SQLAlchemy's BEGIN and COMMIT, cost more CPU
    than a quiet bot's message itself. So a lane keeps its connection while it is busy (and `LINGER_SECONDS`
    after), and on PostgreSQL sends BEGIN, COMMIT and ROLLBACK itself, straight on asyncpg: SQLAlchemy sees the
    connection in autocommit mode and sends none of its own. An ORM session a handler opens still runs its
    statements on this connection, so inside the lane's transaction. SQLite's transactions stay SQLAlchemy's
    (BEGIN IMMEDIATE, see `bot.db`): they cost no round trip.

    On PostgreSQL a commit also begins the next group's transaction, in the same round trip ("COMMIT; BEGIN"):
    a transaction with nothing in it yet holds no locks and no snapshot, and it saves every group a round trip.
    The lease ends it before the connection goes back to the pool. (Nothing in a message reads the database's
    clock, which in such a transaction would say when it began.)
    """

    __slots__ = ("connection", "_sqlite", "_asyncpg", "_begun_ahead")

    def __init__(self, connection: AsyncConnection, sqlite: sqlite3.Connection | None, asyncpg: Any) -> None:
        self.connection = connection
        self._sqlite = sqlite
        self._asyncpg = asyncpg
        self._begun_ahead = False  # PostgreSQL: the last commit began a transaction, with nothing in it yet

    @classmethod
    async def open(cls, engine: AsyncEngine) -> _Lease:
        connection = await engine.connect()
        try:
            driver = (await connection.get_raw_connection()).driver_connection
        except BaseException:
            await connection.close()
            raise
        if connection.dialect.name != "sqlite":
            return cls(connection, None, driver)
        if not isinstance(driver, InlineConnection):  # every SQLite engine is made by bot.db.create_engine
            await connection.close()
            raise TypeError(f"expected bot.sqlite_inline's connection, got {type(driver).__name__}")
        return cls(connection, driver.direct, None)

    def lost(self) -> bool:
        """Whether the server ended this connection (PostgreSQL; SQLite's is in-process)."""
        return self._asyncpg is not None and self._asyncpg.is_closed()

    async def begin(self) -> _Driver:
        """Begin a transaction; its statements run on the driver this returns."""
        if self._sqlite is not None:
            await self.connection.begin()
        elif self._begun_ahead:
            self._begun_ahead = False
        else:
            await self._asyncpg.execute("BEGIN")
        return _Driver(sqlite=self._sqlite, asyncpg=self._asyncpg)

    async def commit(self) -> None:
        if self._sqlite is not None:
            await self.connection.commit()
        else:
            await self._asyncpg.execute("COMMIT; BEGIN")
            self._begun_ahead = True

    async def rollback(self) -> None:
        if self._sqlite is not None:
            await self.connection.rollback()
        else:
            self._begun_ahead = False
            await self._asyncpg.execute("ROLLBACK")

    async def rollback_or_drop(self) -> _Lease | None:
        """Roll back and keep the connection, or drop it when even that fails (it is likely gone)."""
        try:
            await self.rollback()
        except Exception:
            await self.drop()
            return None
        return self

    async def close(self) -> None:
        """Return the connection to the pool; one left inside a transaction is dropped instead, since the pool would
        not roll back a transaction SQLAlchemy did not begin."""
        if self.connection.closed:  # dropped already, after a failure
            return
        if self._begun_ahead and await self.rollback_or_drop() is None:
            return
        open_transaction = (
            self.connection.in_transaction() if self._sqlite is not None else self._asyncpg.is_in_transaction()
        )
        if open_transaction:
            await self.drop()
        else:
            await self.connection.close()

    async def drop(self) -> None:
        """Close the connection, discarding whatever it holds (after a failure its state is not known)."""
        try:
            await self.connection.invalidate()
            await self.connection.close()
        except Exception as exc:  # it is gone either way
            log.warning("closing a failed message connection: %s", type(exc).__name__)


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

        SQLite: straight on sqlite3 (the transaction holds the write lock, so nothing waits). PostgreSQL: straight
        on asyncpg, which costs a third of the CPU of SQLAlchemy's driver-SQL path per statement.
        """
        driver = self._driver
        if driver.sqlite is not None:
            return driver.sqlite.execute(sql, values).fetchall()
        numbered, arguments = _positional(sql, values)
        return [tuple(record) for record in await driver.asyncpg.fetch(numbered, *arguments)]

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
        """An ORM session in the message's transaction; opened on first use.

        SQLite: in a savepoint of its own. PostgreSQL: SQLAlchemy sees the lane's connection in autocommit mode, so
        the session's statements simply run in the transaction the lane began (a failure there rolls the group
        back anyway, so a savepoint would buy nothing).
        """
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

    def __init__(self, engine: AsyncEngine, max_group: int = MAX_GROUP, linger: float = LINGER_SECONDS) -> None:
        if engine.dialect.name != "sqlite":  # SQLAlchemy leaves the lane's connection alone: the lane begins, commits
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._engine = engine
        self._max_group = max_group
        self._linger = linger
        self._queue: deque[_Job[Any]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None  # set while the worker waits for work, connection in hand
        self._closing = False

    async def run(self, body: Body[T], key: Hashable = None) -> T:
        """Run `body` in a message transaction; `key` names its user (whose writes held back it must see)."""
        job: _Job[T] = _Job(body, asyncio.get_running_loop().create_future(), key)
        self._queue.append(job)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="group-commit")
        return await job.done  # a caller that stops waiting before its turn is skipped: nothing of it is done

    async def close(self) -> None:
        """Finish the messages waiting, and give the lane's connection back to the pool."""
        self._closing = True
        try:
            if self._wake is not None and not self._wake.done():
                self._wake.set_result(None)
            if self._worker is not None:
                await asyncio.wait({self._worker})  # neither raises its failure here nor is cancelled with us
        finally:
            self._closing = False

    async def _work(self) -> None:
        while self._queue:  # checked again after the connection went back: a message may have come meanwhile
            lease: _Lease | None = None
            try:
                while await self._more(lease is not None):
                    lease = await self._group(lease)
            finally:
                if lease is not None:
                    await lease.close()

    async def _more(self, leased: bool) -> bool:
        """Whether there is work; with a connection in hand, waits for some up to `linger` seconds first."""
        if self._queue or not leased or self._closing:
            return bool(self._queue)
        self._wake = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self._linger):
                await self._wake
        except TimeoutError:
            pass
        finally:
            self._wake = None
        return bool(self._queue)

    async def _group(self, lease: _Lease | None) -> _Lease | None:
        """One transaction for the messages waiting now; each caller is told how its message ended. Returns the
        connection to go on with (None once it was dropped)."""
        taken: list[_Job[Any]] = []
        results: list[tuple[_Job[Any], Any]] = []
        kept = lease is not None
        try:
            if lease is None:
                lease = await _Lease.open(self._engine)
            rolled_back = await self._transaction(lease, taken, results)
        except BaseException as exc:  # BEGIN or COMMIT failed, or the worker is being stopped: none of it stands
            error = _meaning(exc, lease is not None and lease.lost())
            if lease is not None:
                # What the connection holds is not known: after a failed commit SQLAlchemy counts SQLite's
                # transaction (and its write lock) as ended, and on PostgreSQL the lane's own transaction may be
                # open with work the next group would commit. Closing it discards whatever it holds.
                await lease.drop()
            if not taken and kept and isinstance(exc, Exception):
                return None  # BEGIN failed on a kept connection (the server ended it): the next group takes a fresh one
            if not taken:  # it failed before any message ran: those waiting would meet the same failure
                taken.extend(self._queue)
                self._queue.clear()
            for job in taken:
                _settle(job, error)
            if not isinstance(exc, Exception):
                raise
            log.warning("message transaction failed (%s); %d messages not stored", type(exc).__name__, len(taken))
            return None
        if rolled_back:  # PostgreSQL: each of the group's messages runs again on its own
            return await self._one_by_one(await lease.rollback_or_drop(), taken)
        for job, result in results:
            _settle(job, None, result)
        return lease

    async def _transaction(self, lease: _Lease, taken: list[_Job[Any]], results: list[tuple[_Job[Any], Any]]) -> bool:
        """Run waiting messages one after another, then commit; True when the group failed on PostgreSQL and must be
        rolled back instead (the caller does that)."""
        driver = await lease.begin()
        while self._queue and len(taken) < self._max_group:
            job = self._queue.popleft()
            if job.done.done():  # its caller stopped waiting before its turn
                continue
            taken.append(job)
            if job.key in driver.later_keys and not await self._sent_later(driver):
                return True  # the user's earlier writes first
            if not await self._step(lease.connection, driver, job, results):
                return True
            if not self._queue:
                await asyncio.sleep(0)  # messages already received and ready to run join this commit
        if not await self._sent_later(driver):
            return True
        await lease.commit()
        return False

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
    async def _sent_later(driver: _Driver) -> bool:
        """Send the group's held-back writes; False when they fail: which message's write failed is not known, so
        the group is rolled back and each message runs again on its own."""
        try:
            await driver.send_later()
        except Exception:
            return False
        return True

    async def _one_by_one(self, lease: _Lease | None, jobs: list[_Job[Any]]) -> _Lease | None:
        """Each of a failed group's messages in a transaction of its own.

        `lease` is None when the rollback failed too: the server ended the connection (a restart, say). That is
        not the messages' fault, so they run on a fresh connection and no webhook answers 503 once the database
        is back.
        """
        for index, job in enumerate(jobs):
            if job.done.done():  # its caller stopped waiting
                continue
            if lease is None:
                try:
                    lease = await _Lease.open(self._engine)
                except Exception as exc:  # the database is out of reach: the rest would meet the same
                    for rest in jobs[index:]:
                        _settle(rest, exc)
                    return None
            lease = await self._alone(lease, job)
        return lease

    async def _alone(self, lease: _Lease, job: _Job[Any]) -> _Lease | None:
        """A message in a transaction of its own (after its group failed on PostgreSQL)."""
        try:
            driver = await lease.begin()
        except Exception as exc:
            _settle(job, exc)
            await lease.drop()
            return None
        try:
            result = await _run_unit(lease.connection, driver, job)
            await driver.send_later()
            await lease.commit()
        except Exception as exc:
            _settle(job, _meaning(exc, lease.lost()))
            return await lease.rollback_or_drop()
        _settle(job, None, result)
        return lease


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

    async def close(self) -> None:
        """Give the lanes' connections back (before the engine is disposed)."""
        await asyncio.gather(*(lane.close() for lane in self._lanes))


def _settle(job: _Job[Any], error: BaseException | None, result: Any = None) -> None:
    if job.done.done():
        return
    if error is None:
        job.done.set_result(result)
    elif isinstance(error, Exception):
        job.done.set_exception(error)
    else:
        job.done.set_exception(RuntimeError(f"message transaction stopped ({type(error).__name__})"))
