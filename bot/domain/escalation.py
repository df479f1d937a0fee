"""Escalation of overdue complaints, as the Pakistan Citizen Portal does: when a complaint passes its due time it
goes to its body's supervisors; if it is still open `admins_after_working_days` later, to the admins. Each step is
an event in the complaint's history (staff only). The worker runs this; a complaint is escalated once per step
however many workers run (bot/storage/escalation.py's claim).

A complaint nobody routed has no supervisors: it goes straight to the admins, who route it.
`on_step`, when given, is called with each step taken, in the same transaction: the worker passes the staff alerts'
(bot/domain/alerts.py), which e-mail whom the step went to.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import Database
from bot.domain.deadlines import add_working_days, local_due
from bot.domain.routing_data import RoutingData
from bot.models import Complaint, ComplaintEvent, utcnow
from bot.storage import escalation as stored

log = logging.getLogger(__name__)
SUPERVISORS, ADMINS = 1, 2
BATCH = 200  # per step and round; the next round takes the rest
OnStep = Callable[[AsyncSession, Complaint, ComplaintEvent, int, dt.datetime], Awaitable[None]]


def _who(names: list[str]) -> str:
    return ", ".join(names) if names else "no such account yet"


async def _step(
    session: AsyncSession, complaint: Complaint, level: int, note: str, now: dt.datetime, on_step: OnStep | None
) -> bool:
    assert complaint.id is not None
    if not await stored.claim_level(session, complaint.id, complaint.escalation_level, level, now):
        return False
    event = ComplaintEvent(complaint_id=complaint.id, kind="escalated", note=note, actor="system", created_at=now)
    session.add(event)
    if on_step is not None:
        await session.flush()
        await on_step(session, complaint, event, level, now)
    return True


async def escalate_due(
    session: AsyncSession, data: RoutingData, now: dt.datetime | None = None, on_step: OnStep | None = None
) -> int:
    """Take every overdue complaint one step further where it is due; the number of steps taken."""
    now = now or utcnow()
    admins = await stored.staff_with_role(session, "admin")
    taken = 0
    for complaint in await stored.overdue_below(session, SUPERVISORS, now, BATCH):
        assert complaint.due_at is not None
        overdue = f"overdue since {local_due(complaint.due_at)}"
        if complaint.body_id is None:
            note = f"{overdue} and unrouted: escalated to the admins ({_who(admins)})"
            taken += await _step(session, complaint, ADMINS, note, now, on_step)
            continue
        supervisors = await stored.staff_with_role(session, "supervisor", complaint.body_id)
        note = f"{overdue}: escalated to {complaint.body_id}'s supervisors ({_who(supervisors)})"
        taken += await _step(session, complaint, SUPERVISORS, note, now, on_step)
    for complaint in await stored.overdue_below(session, ADMINS, now, BATCH):
        assert complaint.due_at is not None
        last_day = complaint.due_at - dt.timedelta(seconds=1)
        if now < add_working_days(last_day, data.deadlines.admins_after_working_days, data.holidays):
            continue
        days = data.deadlines.admins_after_working_days
        note = f"still open {days} working days after its due time: escalated to the admins ({_who(admins)})"
        taken += await _step(session, complaint, ADMINS, note, now, on_step)
    return taken


async def escalate_round(
    db: Database, data: RoutingData, now: dt.datetime | None = None, on_step: OnStep | None = None
) -> int:
    """One round in its own transaction (the worker's loop calls this)."""
    async with db.session() as session, session.begin():
        taken = await escalate_due(session, data, now, on_step)
    if taken:
        log.info("escalated %s overdue complaint step(s)", taken)
    return taken
