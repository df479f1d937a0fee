"""Database engine and sessions: SQLite for development, PostgreSQL in production, one `DATABASE_URL`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.storage.transactions import MessageTransactions

SQLITE_BUSY_SECONDS = 15.0
POOL_RECYCLE_SECONDS = 1800
COMMAND_TIMEOUT_SECONDS = 60.0
# The exception types a database failure takes: a database error, a refused or dropped connection, a timeout, or
# no pooled connection free in time. Whether one means "unavailable, try again" is `bot.errors.is_transient`'s
# call: only those answer 503; a constraint or a missing column is a bug, and answers as one.
DATABASE_OUTAGE: tuple[type[BaseException], ...] = (DBAPIError, PoolTimeout, OSError, TimeoutError)


def _prepare_sqlite_file(url: str) -> None:
    """Create the folder of a file-based SQLite database, so the first run needs no set-up."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _install_sqlite_recipe(engine: AsyncEngine) -> None:
    """WAL, and the recipe SQLAlchemy documents for aiosqlite ("Serializable isolation / Savepoints / Transactional
    DDL"): the driver's own transaction handling is switched off and SQLAlchemy's BEGIN is emitted here.

    That makes savepoints (`session.begin_nested()`) work as on PostgreSQL, and lets BEGIN be IMMEDIATE: with a
    deferred BEGIN, two writers that both read first deadlock into "database is locked"; taking the write lock at
    BEGIN makes them queue instead (in SQLite's busy handler, on aiosqlite's thread, up to SQLITE_BUSY_SECONDS).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    """An async engine for `url`, with the SQLite recipe applied where it applies.

    PostgreSQL: `pool_size` connections kept open, and as many again opened for bursts. Connections are not
    pinged as they leave the pool (three round trips on asyncpg, more than a message's own statements cost): a
    message that meets a connection the server ended runs again on a fresh one (bot.storage.transactions), and
    SQLAlchemy retires the pool's older connections when it sees one gone.
    """
    if url.startswith("sqlite"):
        _prepare_sqlite_file(url)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_SECONDS})
        _install_sqlite_recipe(engine)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        # Without a ping, a connection a proxy silently dropped would hang a statement: connections are retired
        # after half an hour, and no statement waits on the server longer than a minute (then it fails as a
        # timeout: transient, so a webhook answers 503 and is redelivered).
        pool_recycle=POOL_RECYCLE_SECONDS,
        connect_args={"command_timeout": COMMAND_TIMEOUT_SECONDS},
    )


class Database:
    """One engine and its session factory; the app, the CLI and the tests each hold one."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, echo=echo, pool_size=pool_size)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # Each message in a transaction of its own (bot.storage.transactions).
        self.messages = MessageTransactions(self.engine)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def ping(self, seconds: float = 3.0) -> None:
        """Raise if the database cannot answer `SELECT 1` within `seconds`."""
        async with asyncio.timeout(seconds), self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
