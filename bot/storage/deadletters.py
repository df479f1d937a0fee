"""Dead letters' rows (bot.models.DeadLetter): kept, listed, and marked retried or dismissed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import DeadLetter


async def start_retry(session: AsyncSession, ident: int, now: dt.datetime, actor: str) -> bool:
    """Mark an open dead letter retried; False when it is not open (any more)."""
    table = DeadLetter.__table__
    result = await session.exec(
        update(table)
        .where(table.c.id == ident, table.c.status == "open")
        .values(status="retried", retried_at=now, updated_by=actor[:80])
        .returning(table.c.id)
    )
    return result.first() is not None


async def listing(session: AsyncSession, *, include_closed: bool = False, limit: int = 200) -> list[DeadLetter]:
    """Dead letters, newest first: the open ones, or all of them."""
    query = select(DeadLetter)
    if not include_closed:
        query = query.where(DeadLetter.status == "open")
    query = query.order_by(col(DeadLetter.created_at).desc(), col(DeadLetter.id).desc()).limit(limit)
    return list(await session.exec(query))


async def open_count(session: AsyncSession) -> int:
    query = select(func.count()).select_from(DeadLetter).where(DeadLetter.status == "open")
    return int((await session.exec(query)).one())


def keep(session: AsyncSession, **fields: Any) -> DeadLetter:
    """Add a dead letter (the message, its payload, the error) to the session's transaction."""
    dead = DeadLetter(**fields)
    session.add(dead)
    return dead


async def get(session: AsyncSession, ident: int, *, lock: bool = False) -> DeadLetter | None:
    """One dead letter, locked for update when it is about to change (PostgreSQL; SQLite's writer is alone)."""
    return await session.get(DeadLetter, ident, with_for_update=lock)


def save(session: AsyncSession, dead: DeadLetter, **changes: Any) -> None:
    """Change a dead letter loaded in `session` (written with the session's commit)."""
    for name, value in changes.items():
        setattr(dead, name, value)
    session.add(dead)
