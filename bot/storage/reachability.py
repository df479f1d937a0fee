"""Citizens a channel said cannot be messaged (bot.models.Unreachable): marked by the sender when a delivery is
refused for good (Telegram 403: the bot was blocked), read by the staff pages. A mark counts only while the
citizen has not written since, so nothing needs clearing on the hot path of every message."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Notification, Unreachable, UserProfile
from bot.storage.inserts import dialect_of, upsert_insert

if TYPE_CHECKING:
    from bot.db import Database


async def mark(session: AsyncSession, channel: str, user_id: str, reason: str, now: dt.datetime) -> None:
    """Record (or move forward) the mark; one statement, so two senders failing at once do not conflict."""
    table = Unreachable.__table__
    insert = upsert_insert(dialect_of(session), table).values(
        channel=channel, user_id=user_id, since=now, reason=reason[:300]
    )
    await session.exec(  # type: ignore[call-overload]
        insert.on_conflict_do_update(
            index_elements=[table.c.channel, table.c.user_id],
            set_={"since": insert.excluded.since, "reason": insert.excluded.reason},
        )
    )


async def unreachable(session: AsyncSession, channel: str, user_id: str) -> Unreachable | None:
    """The mark, if the citizen has not written since it was made (writing again shows they can be reached)."""
    found = await session.get(Unreachable, (channel, user_id))
    if found is None:
        return None
    profile = await session.get(UserProfile, (channel, user_id))
    if profile is not None and profile.last_inbound_at > found.since:
        return None
    return found


async def forget(session: AsyncSession, channel: str, user_id: str) -> None:
    """Erasure: the mark is personal data too."""
    await session.exec(  # type: ignore[call-overload]
        delete(Unreachable).where(Unreachable.channel == channel, Unreachable.user_id == user_id)
    )


async def mark_recipient(db: Database, channel: str, external_id: str, reason: str, now: dt.datetime) -> bool:
    """Mark whoever the message sent as `external_id` went to (a delivery failure reported later, by a status
    callback); False for a message that is no notification of ours."""
    async with db.session() as session, session.begin():
        query = select(Notification.user_id).where(
            Notification.channel == channel, Notification.external_id == external_id
        )
        user_id = (await session.exec(query)).first()
        if user_id is None:
            return False
        await mark(session, channel, user_id, reason, now)
        return True
