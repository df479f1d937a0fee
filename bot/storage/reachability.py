"""Citizens a channel said cannot be messaged (bot.models.Unreachable): marked by the sender when a delivery is
refused for good (Telegram 403: the bot was blocked), read by the staff pages. A mark counts only while the
citizen has not written since, so nothing needs clearing on the hot path of every message."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Unreachable, UserProfile
from bot.storage.inserts import dialect_of, upsert_insert


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
