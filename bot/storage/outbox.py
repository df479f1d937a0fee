"""The outbox's rows (bot.models.Notification): finding what is due, claiming one row with a token, changing it
only under that claim, and counting what waits. The sender's rules (leases, retries, backoff) are in
bot.domain.outbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Notification


def _due(now: dt.datetime) -> ColumnElement[bool]:
    """Pending and due, or claimed by a sender whose lease has run out."""
    return or_(
        and_(col(Notification.status) == "pending", col(Notification.next_attempt_at) <= now),
        and_(col(Notification.status) == "sending", col(Notification.locked_until) < now),
    )


async def most_overdue(session: AsyncSession, now: dt.datetime) -> int | None:
    """The id of the row waiting longest, if any is due."""
    query = select(Notification.id).where(_due(now)).order_by(col(Notification.next_attempt_at)).limit(1)
    return (await session.exec(query)).first()


async def claim(
    session: AsyncSession, notification_id: int, token: str, now: dt.datetime, lease: dt.timedelta
) -> Notification | None:
    """Claim the row for `token` if it is still due (a compare-and-set: of senders racing for it, one wins)."""
    result = await session.exec(  # type: ignore[call-overload]
        update(Notification)
        .where(col(Notification.id) == notification_id, _due(now))
        .values(status="sending", locked_until=now + lease, attempts=Notification.attempts + 1, claim_token=token)
    )
    if result.rowcount != 1:
        return None
    return await session.get(Notification, notification_id)


async def change_under_claim(session: AsyncSession, notification_id: int, token: str, **values: Any) -> bool:
    """Change the row if the claim is still `token`'s; False when another sender has taken it over."""
    result = await session.exec(  # type: ignore[call-overload]
        update(Notification)
        .where(
            col(Notification.id) == notification_id,
            col(Notification.claim_token) == token,
            col(Notification.status) == "sending",
        )
        .values(**values)
    )
    return bool(result.rowcount == 1)


async def waiting(session: AsyncSession) -> list[tuple[str, int, dt.datetime | None]]:
    """Per status of the rows still to send: how many, and when the oldest was created."""
    rows = await session.exec(  # type: ignore[call-overload]
        select(Notification.status, func.count(), func.min(Notification.created_at))
        .where(col(Notification.status).in_(("pending", "sending")))
        .group_by(Notification.status)
    )
    return [(str(status), int(count), created) for status, count, created in rows]
