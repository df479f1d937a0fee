"""SQLite for the async engine without a thread: statements run on the event loop, and a busy database is
awaited, not slept on.

aiosqlite runs every call (cursor, execute, fetch, close, commit) on its own thread and hands the result back
to the loop; a message's transaction made about twenty such hops, which cost far more than SQLite's own work
(tens of microseconds per statement in WAL mode) and kept the write lock held across every hop. Here each call
runs inline. SQLite never blocks the loop in its busy handler (busy_timeout is 0): when another process holds
the write lock, the statement is retried after an `asyncio.sleep` until `connect(patience=...)` seconds pass.

SQLAlchemy's aiosqlite dialect takes this connection through `create_async_engine(async_creator=...)`; it uses
the small part of aiosqlite's interface implemented below.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
FIRST_RETRY_SECONDS = 0.001
LONGEST_RETRY_SECONDS = 0.05


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # an SQLite error without a code: go by its message
        return "database is locked" in str(error)
    return code & 0xFF == sqlite3.SQLITE_BUSY


async def _when_not_busy(call: Callable[[], T], patience: float) -> T:
    """`call()`, retried while SQLite answers SQLITE_BUSY (a statement that got it changed nothing)."""
    deadline = time.monotonic() + patience
    delay = FIRST_RETRY_SECONDS
    while True:
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, LONGEST_RETRY_SECONDS)


class InlineCursor:
    """An aiosqlite-style cursor over a sqlite3 cursor."""

    __slots__ = ("_cursor", "_patience")

    def __init__(self, cursor: sqlite3.Cursor, patience: float) -> None:
        self._cursor = cursor
        self._patience = patience

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        await _when_not_busy(lambda: self._cursor.execute(sql, parameters), self._patience)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        rows = list(parameters)
        await _when_not_busy(lambda: self._cursor.executemany(sql, rows), self._patience)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """An aiosqlite-style connection over a sqlite3 connection in autocommit mode (we emit BEGIN ourselves)."""

    def __init__(self, connection: sqlite3.Connection, patience: float) -> None:
        self._conn = connection
        self._patience = patience

    @property
    def _connection(self) -> sqlite3.Connection | None:
        """SQLAlchemy's adapter commits and rolls back only while this is set."""
        return self._conn

    @property
    def direct(self) -> sqlite3.Connection:
        """The sqlite3 connection, for statements inside a transaction this connection has begun: that
        transaction holds the write lock (BEGIN IMMEDIATE), so they never meet a busy database."""
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor(), self._patience)

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        await _when_not_busy(self._conn.commit, self._patience)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()

    async def create_function(self, name: str, num_params: int, func: Callable[..., Any], **kw: Any) -> None:
        self._conn.create_function(name, num_params, func, **kw)


async def connect(database: str, *, patience: float = 5.0) -> InlineConnection:
    """Open `database` for use on the event loop; `patience` (seconds) bounds how long a busy database is awaited."""
    uri = database.startswith("file:")
    connection = sqlite3.connect(database, timeout=0, isolation_level=None, check_same_thread=False, uri=uri)
    connection.execute("PRAGMA busy_timeout=0")
    return InlineConnection(connection, patience)
