"""The rows of files citizens sent (bot.models.MediaFile): adding them, finding and claiming one due for fetching,
recording how the fetch went, and finding them for the staff view and for erasure. The fetching rules are in
bot.domain.media."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import MediaBlob, MediaFile


def _due(now: dt.datetime) -> ColumnElement[bool]:
    """Waiting and due, or being fetched by a worker whose lease has run out (it died)."""
    return or_(
        and_(col(MediaFile.status) == "pending", col(MediaFile.next_attempt_at) <= now),
        and_(col(MediaFile.status) == "fetching", col(MediaFile.locked_until) < now),
    )


async def most_overdue(session: AsyncSession, now: dt.datetime) -> int | None:
    query = select(MediaFile.id).where(_due(now)).order_by(col(MediaFile.next_attempt_at), col(MediaFile.id)).limit(1)
    return (await session.exec(query)).first()


async def claim(session: AsyncSession, media_id: int, now: dt.datetime, lease: dt.timedelta) -> MediaFile | None:
    """Claim the row if it is still due (compare-and-set: of workers racing for it, one wins)."""
    result = await session.exec(  # type: ignore[call-overload]
        update(MediaFile)
        .where(col(MediaFile.id) == media_id, _due(now))
        .values(status="fetching", locked_until=now + lease, attempts=MediaFile.attempts + 1)
    )
    if result.rowcount != 1:
        return None
    return await session.get(MediaFile, media_id)


async def record(session: AsyncSession, media_id: int, attempts: int, **values: Any) -> bool:
    """Record a fetch's outcome, if the row is still this attempt's (not taken over after its lease ran out)."""
    result = await session.exec(  # type: ignore[call-overload]
        update(MediaFile)
        .where(col(MediaFile.id) == media_id, col(MediaFile.status) == "fetching", MediaFile.attempts == attempts)
        .values(locked_until=None, **values)
    )
    return bool(result.rowcount == 1)


async def of_events(session: AsyncSession, event_ids: Iterable[int]) -> list[MediaFile]:
    ids = list(event_ids)
    if not ids:
        return []
    rows = await session.exec(select(MediaFile).where(col(MediaFile.event_id).in_(ids)).order_by(col(MediaFile.id)))
    return list(rows)


async def of_messages(session: AsyncSession, message_ids: Iterable[int]) -> list[MediaFile]:
    ids = list(message_ids)
    if not ids:
        return []
    rows = await session.exec(select(MediaFile).where(col(MediaFile.message_id).in_(ids)).order_by(col(MediaFile.id)))
    return list(rows)


async def files_of_user(session: AsyncSession, channel: str, user_id: str) -> list[tuple[int, str | None]]:
    """(id, stored path or None) of each of the citizen's files."""
    rows = await session.exec(  # type: ignore[call-overload]
        select(MediaFile.id, MediaFile.path).where(MediaFile.channel == channel, MediaFile.user_id == user_id)
    )
    return [(int(ident), path) for ident, path in rows]


async def count_of_user(session: AsyncSession, channel: str, user_id: str) -> int:
    query = select(func.count()).select_from(MediaFile)
    query = query.where(MediaFile.channel == channel, MediaFile.user_id == user_id)
    return int((await session.exec(query)).one())


async def delete_of_user(session: AsyncSession, channel: str, user_id: str) -> int:
    """Their rows, and the bytes kept in the database (MEDIA_STORE=database) with them."""
    theirs = select(MediaFile.id).where(MediaFile.channel == channel, MediaFile.user_id == user_id)
    await session.exec(delete(MediaBlob).where(col(MediaBlob.media_id).in_(theirs)))  # type: ignore[call-overload]
    result = await session.exec(  # type: ignore[call-overload]
        delete(MediaFile).where(MediaFile.channel == channel, MediaFile.user_id == user_id)
    )
    return int(result.rowcount or 0)


def add_blob(session: AsyncSession, media_id: int, data: bytes) -> None:
    session.add(MediaBlob(media_id=media_id, data=data))


async def blob(session: AsyncSession, media_id: int) -> bytes | None:
    found = await session.get(MediaBlob, media_id)
    return found.data if found is not None else None
