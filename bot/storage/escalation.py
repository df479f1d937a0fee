"""The queries behind escalation: overdue open complaints, a claim on one escalation step, a body's supervisors."""

from __future__ import annotations

import datetime as dt

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Complaint, StaffUser

OPEN_STATUSES = ("received", "in_review")


async def overdue_below(session: AsyncSession, level: int, now: dt.datetime, limit: int) -> list[Complaint]:
    """Open complaints due by `now` and escalated less than `level`, longest overdue first."""
    query = (
        select(Complaint)
        .where(
            col(Complaint.status).in_(OPEN_STATUSES),
            col(Complaint.due_at).is_not(None),
            col(Complaint.due_at) <= now,
            col(Complaint.escalation_level) < level,
        )
        .order_by(col(Complaint.due_at), col(Complaint.id))
        .limit(limit)
    )
    return list(await session.exec(query))


async def claim_level(session: AsyncSession, complaint_id: int, before: int, after: int, now: dt.datetime) -> bool:
    """Move a complaint from escalation level `before` to `after`, only if nobody else did it first: of two workers
    on the same complaint, one changes the row and records the step, the other changes nothing."""
    statement = (
        update(Complaint)
        .where(col(Complaint.id) == complaint_id, col(Complaint.escalation_level) == before)
        .values(escalation_level=after, updated_at=now)
    )
    result = await session.exec(statement)  # type: ignore[call-overload]
    return bool(result.rowcount == 1)


async def staff_with_role(session: AsyncSession, role: str, body_id: str | None = None) -> list[str]:
    """Usernames of active accounts with this role (of this body, when given)."""
    query = select(StaffUser.username).where(col(StaffUser.active).is_(True), StaffUser.role == role)
    if body_id is not None:
        query = query.where(StaffUser.body_id == body_id)
    return sorted(await session.exec(query.order_by(col(StaffUser.username))))
