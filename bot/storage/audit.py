"""The audit trail's rows (bot.models.AuditEvent), newest first, filtered by actor, action and day (UTC)."""

from __future__ import annotations

import datetime as dt

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import AuditEvent


async def events(
    session: AsyncSession,
    *,
    actor: str = "",
    action: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
    offset: int = 0,
    limit: int,
) -> list[AuditEvent]:
    """Events matching every filter given (an empty one matches all), `until` counting its whole day."""
    query = select(AuditEvent)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action == action)
    if since:
        query = query.where(col(AuditEvent.created_at) >= dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC))
    if until:
        end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        query = query.where(col(AuditEvent.created_at) < end)
    query = query.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc()).offset(offset).limit(limit)
    return list(await session.exec(query))


async def latest(session: AsyncSession, action: str) -> AuditEvent | None:
    """The most recent event of `action`, if any."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()
