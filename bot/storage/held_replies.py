"""Staff replies held back while a citizen is outside their channel's customer-service window (WhatsApp's 24
hours): outbox rows (bot.models.Notification) with status "held", which the sender never claims until they are
released, one at a time per citizen, in the order they were written. The rules are in bot.domain.reply_window."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, exists, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Notification, UserProfile

HELD = "held"
WAITING = ("pending", "sending")  # rows the sender has still to send


async def last_inbound_at(session: AsyncSession, channel: str, user_id: str) -> dt.datetime | None:
    """When the citizen last wrote on `channel` (None: never)."""
    profile = await session.get(UserProfile, (channel, user_id))
    return None if profile is None else profile.last_inbound_at


async def has_held(session: AsyncSession, channel: str, user_id: str) -> bool:
    """Whether replies to this citizen are held already (an invitation to reply has gone out for them)."""
    query = select(Notification.id).where(
        Notification.channel == channel, Notification.user_id == user_id, col(Notification.status) == HELD
    )
    return (await session.exec(query.limit(1))).first() is not None


async def next_to_release(session: AsyncSession, channel: str, wrote_since: dt.datetime) -> list[int]:
    """Per citizen of `channel` who wrote at or after `wrote_since` (the window is open): the id of their oldest held
    reply, when nothing written to them before it is still waiting to be sent (so their texts go in order)."""
    earlier = Notification.__table__.alias("earlier")  # type: ignore[attr-defined]
    waiting_before = exists().where(
        and_(
            earlier.c.channel == Notification.channel,
            earlier.c.user_id == Notification.user_id,
            earlier.c.id < Notification.id,
            earlier.c.status.in_((*WAITING, HELD)),
        )
    )
    query = (
        select(Notification.id)
        .join(
            UserProfile,
            and_(
                col(UserProfile.channel) == col(Notification.channel),
                col(UserProfile.user_id) == col(Notification.user_id),
            ),
        )
        .where(
            col(Notification.status) == HELD,
            Notification.channel == channel,
            col(UserProfile.last_inbound_at) >= wrote_since,
            ~waiting_before,
        )
        .order_by(col(Notification.id))
    )
    return list((await session.exec(query)).all())


async def release(session: AsyncSession, notification_id: int, now: dt.datetime) -> bool:
    """Make a held reply due now (a compare-and-set: of senders racing to release it, one does)."""
    result = await session.exec(  # type: ignore[call-overload]
        update(Notification)
        .where(col(Notification.id) == notification_id, col(Notification.status) == HELD)
        .values(status="pending", next_attempt_at=now)
    )
    return bool(result.rowcount == 1)
