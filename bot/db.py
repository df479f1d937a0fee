"""Database engine and sessions: SQLite for development, PostgreSQL in production, one `DATABASE_URL`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import sqlite_inline
from bot.transactions import Lanes

SQLITE_BUSY_SECONDS = 15.0
# The exception types a database failure takes: a database error, a refused or dropped connection, a timeout, or
# no pooled connection free in time. asyncpg's own errors are here because message statements run on asyncpg
# directly (bot.transactions). Whether one means "unavailable, try again" is `bot.errors.is_transient`'s call:
# only those answer 503; a constraint or a missing column is a bug, and answers as one.
DATABASE_OUTAGE: tuple[type[BaseException], ...] = (
    DBAPIError,
    PoolTimeout,
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def _prepare_sqlite_file(url: str) -> None:
    """Create the folder of a file-based SQLite database, so the first run needs no set-up."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _install_sqlite_recipe(engine: AsyncEngine) -> None:
    """WAL and SQLAlchemy's documented BEGIN IMMEDIATE recipe for SQLite.

    With a deferred BEGIN, two writers that both read first deadlock into "database is locked"; taking the
    write lock at BEGIN makes them queue instead (see `bot.sqlite_inline` for how a busy database is awaited).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        # On the DBAPI cursor: SQLAlchemy's own statement path (exec_driver_sql) cost ten times SQLite's BEGIN, and
        # every message transaction begins here. The cursor still awaits a busy database (bot.sqlite_inline).
        cursor = connection.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        finally:
            cursor.close()


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    """An async engine for `url`, with the SQLite recipe applied where it applies.

    PostgreSQL: `pool_size` connections kept open, and as many again opened for bursts of other work (message
    transactions use up to half of them: see `message_lanes`). A connection is pinged as it leaves the pool, so
    one the server ended (a restart, say) is replaced instead of failing a request; on a failed ping SQLAlchemy
    also retires every pooled connection older than it. The ping costs round trips, but messages rarely pay it:
    a busy message lane keeps its connection (`bot.transactions`), and reruns its messages on a fresh one if the
    server ends it.
    """
    if url.startswith("sqlite"):
        _prepare_sqlite_file(url)
        database = make_url(url).database or ":memory:"
        engine = create_async_engine(
            url, echo=echo, async_creator=lambda: sqlite_inline.connect(database, patience=SQLITE_BUSY_SECONDS)
        )
        _install_sqlite_recipe(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size)


def message_lanes(url: str, pool_size: int) -> int:
    """How many message transactions run side by side: SQLite has one writer; on PostgreSQL half the pool, so
    pages, APIs and the outbox sender keep the other half."""
    return 1 if url.startswith("sqlite") else max(1, pool_size // 2)


class Database:
    """One engine and its session factory; the app, the CLI and the tests each hold one."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, echo=echo, pool_size=pool_size)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # Message transactions: in order of arrival, those waiting together in a lane committed together.
        self.messages = Lanes(self.engine, message_lanes(url, pool_size))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def ping(self, seconds: float = 3.0) -> None:
        """Raise if the database cannot answer `SELECT 1` within `seconds`."""
        async with asyncio.timeout(seconds), self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.messages.close()
        await self.engine.dispose()
