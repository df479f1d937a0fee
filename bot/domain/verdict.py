"""The citizen's verdict on a resolved complaint, as FixMyStreet asks its reporters: the resolution's message asks
"Was it solved?" (yes / no). "Yes" closes the complaint and asks for a 1-5 rating; "no" asks why and reopens it
(bot/domain/complaints.reopen); no answer within VERDICT_DAYS closes it (the worker's round)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import Database
from bot.domain.complaints import ComplaintError
from bot.models import Complaint, ComplaintEvent, utcnow
from bot.storage import verdict as stored

log = logging.getLogger(__name__)
BATCH = 200  # per round; the next round takes the rest


def _close(session: AsyncSession, complaint: Complaint, actor: str, note: str, now: dt.datetime) -> None:
    session.add(
        ComplaintEvent(
            complaint_id=complaint.id,  # type: ignore[arg-type]
            kind="status",
            from_status=complaint.status,
            to_status="closed",
            note=note,
            public=True,
            actor=actor,
            created_at=now,
        )
    )
    complaint.status = "closed"
    complaint.updated_at = now
    session.add(complaint)


async def confirm_solved(session: AsyncSession, complaint: Complaint, now: dt.datetime | None = None) -> None:
    """The citizen says it was solved: the complaint is closed (its resolution time kept for the figures)."""
    if complaint.status != "resolved":
        raise ComplaintError("not resolved")
    _close(session, complaint, "citizen", "the citizen confirmed it was solved", now or utcnow())
    await session.flush()


async def close_unanswered(session: AsyncSession, days: int, now: dt.datetime | None = None) -> int:
    """Close the complaints resolved `days` ago or more without the citizen's verdict; how many were closed."""
    now = now or utcnow()
    waiting = await stored.resolved_before(session, now - dt.timedelta(days=days), BATCH)
    for complaint in waiting:
        _close(session, complaint, "system", f"no reply from the citizen in {days} days", now)
    await session.flush()
    return len(waiting)


async def close_round(db: Database, days: int, now: dt.datetime | None = None) -> int:
    """One round in its own transaction (the worker's loop calls this)."""
    async with db.session() as session, session.begin():
        closed = await close_unanswered(session, days, now)
    if closed:
        log.info("closed %s resolved complaint(s) the citizen did not answer in %s days", closed, days)
    return closed


async def awaiting(
    session: AsyncSession, channel: str, user_id: str, message_ids: tuple[str, ...], now: dt.datetime, days: int
) -> Complaint | None:
    """The resolved complaint whose "Was it solved?" is the last question the citizen was asked: resolved (within
    `days`) after their previous message (other than `message_ids`, this one's), so a "1" or "yes" now answers it
    and not an older menu."""
    complaint = await stored.latest_resolved(session, channel, user_id)
    if complaint is None or complaint.resolved_at is None:
        return None
    previous = await stored.previous_message_at(session, channel, user_id, message_ids)
    if previous is not None and previous >= complaint.resolved_at:
        return None
    return complaint if now - complaint.resolved_at <= dt.timedelta(days=days) else None
