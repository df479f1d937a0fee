"""The queries behind the citizen's verdict: resolved complaints still waiting for it, and when the citizen last
wrote before the message in hand."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Complaint, ProcessedMessage


async def resolved_before(session: AsyncSession, before: dt.datetime, limit: int) -> list[Complaint]:
    """Resolved complaints (so still waiting for the citizen's verdict) resolved at or before `before`."""
    query = (
        select(Complaint)
        .where(Complaint.status == "resolved", col(Complaint.resolved_at) <= before)
        .order_by(col(Complaint.resolved_at), col(Complaint.id))
        .limit(limit)
    )
    return list(await session.exec(query))


async def latest_resolved(session: AsyncSession, channel: str, user_id: str) -> Complaint | None:
    """The citizen's most recently resolved complaint that still waits for their verdict."""
    query = (
        select(Complaint)
        .where(Complaint.channel == channel, Complaint.user_id == user_id, Complaint.status == "resolved")
        .order_by(col(Complaint.resolved_at).desc(), col(Complaint.id).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


async def previous_message_at(
    session: AsyncSession, channel: str, user_id: str, message_ids: tuple[str, ...]
) -> dt.datetime | None:
    """When the citizen's last message other than `message_ids` (the one in hand) was handled (None: none kept)."""
    query = select(func.max(ProcessedMessage.handled_at)).where(
        ProcessedMessage.channel == channel,
        ProcessedMessage.user_id == user_id,
        col(ProcessedMessage.external_id).not_in([i[:128] for i in message_ids]),
    )
    found = (await session.exec(query)).first()  # type: ignore[call-overload]
    if isinstance(found, dt.datetime) and found.tzinfo is None:  # SQLite hands back naive times from an aggregate
        found = found.replace(tzinfo=dt.UTC)
    return found if isinstance(found, dt.datetime) else None
