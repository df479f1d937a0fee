"""Message transactions: each message's work in one database transaction of its own, on SQLModel's AsyncSession.

A message's claim, the user's state, whatever its handler writes (a complaint, say) and the replies it was given
commit together, before any reply goes out; a failure rolls all of it back. Two rules keep the order of things:

- one user's messages run one after another, in arrival order, within a process (on PostgreSQL the upserts of
  `bot.storage.conversations` lock the user's rows, which orders them across processes too);
- SQLite has one writer at a time: the process's message transactions take turns, so they queue here rather
  than in SQLite's busy handler (which sleeps). Other processes are waited for by SQLite's busy timeout.

The handler gets the session inside its transaction and may use the ORM or Core statements from bot.storage; a
part that may fail and be carried on from (a duplicate key, say) runs under `session.begin_nested()`, a savepoint,
which behaves the same on both databases.

A message that meets a connection the server has ended (a database restart, a proxy dropping idle connections)
runs once more on a fresh one: SQLAlchemy reports it (`DBAPIError.connection_invalidated`) and retires the pool's
older connections with it. So no webhook answers 503 for a restart once the database is back, without paying a
ping on every checkout. Running again is safe: nothing of the first run was committed, or if its COMMIT reached
the server before the connection went, the message's claim turns the second run into a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)
T = TypeVar("T")
Body = Callable[[AsyncSession], Awaitable[T]]


@dataclass
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class MessageTransactions:
    """Runs message bodies in transactions: `await transactions.run(body, key=(channel, user_id))`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        self._turns: dict[Hashable, _Turn] = {}
        self._writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    async def run(self, body: Body[T], key: Hashable = None) -> T:
        """Run `body(session)` in a transaction and commit; returns its result once committed, or raises what it
        (or the commit) raised, with nothing of it stored. `key` names the user, whose messages keep their order."""
        async with self._turn(key), self._writer or nullcontext():
            try:
                return await self._once(body)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                log.info("a message's database connection was gone; running it again on a fresh one")
            return await self._once(body)

    async def _once(self, body: Body[T]) -> T:
        async with self._sessions() as session, session.begin():
            return await body(session)

    @asynccontextmanager
    async def _turn(self, key: Hashable) -> AsyncIterator[None]:
        if key is None:
            yield
            return
        turn = self._turns.setdefault(key, _Turn())
        turn.waiting += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.waiting -= 1
            if not turn.waiting:
                del self._turns[key]
