"""Waiting for the citizen pauses a complaint's deadline clock: staff set "waiting" when they need something from
the citizen, and the working time until the citizen answers (or staff move it on) is added to its due time, so an
office is not marked late for days it could not act."""

from __future__ import annotations

import datetime as dt

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.deadlines import add_working_days, add_working_time, local_due, working_time_between
from bot.domain.routing_data import load_routing
from bot.models import Complaint, ComplaintEvent
from bot.settings import get_settings


def pause_clock(complaint: Complaint, now: dt.datetime) -> None:
    complaint.paused_at = now


def resume_clock(complaint: Complaint, now: dt.datetime, actor: str) -> ComplaintEvent:
    """Move the due time on by the working time the complaint waited; the history line says where it moved."""
    paused = complaint.paused_at
    if paused is not None and complaint.due_at is not None and now > paused:
        holidays = load_routing(get_settings().knowledge_dir).holidays
        complaint.due_at = add_working_time(complaint.due_at, working_time_between(paused, now, holidays), holidays)
    complaint.paused_at = None
    due = local_due(complaint.due_at) if complaint.due_at else "none"
    since = f"waited for the citizen since {paused:%Y-%m-%d %H:%M} UTC; " if paused else ""
    return ComplaintEvent(
        complaint_id=complaint.id,  # type: ignore[arg-type]
        kind="resumed",
        note=f"{since}the clock runs again, due {due}",
        actor=actor,
        created_at=now,
    )


def restart_clock(complaint: Complaint, now: dt.datetime, actor: str) -> ComplaintEvent:
    """A reopened complaint starts afresh: due its category's working days from the reopening, not escalated, so its
    body is neither late nor escalated for the time it stood resolved; the history line says what changed."""
    routing = load_routing(get_settings().knowledge_dir)
    before, level = complaint.due_at, complaint.escalation_level
    complaint.due_at = add_working_days(now, routing.deadlines.working_days(complaint.category), routing.holidays)
    complaint.escalation_level = 0
    complaint.paused_at = None
    was = local_due(before) if before else "none"
    escalation = f"; escalation level {level} cleared" if level else ""
    return ComplaintEvent(
        complaint_id=complaint.id,  # type: ignore[arg-type]
        kind="deadline_reset",
        note=f"reopened: due {local_due(complaint.due_at)} (was {was}){escalation}",
        actor=actor,
        created_at=now,
    )


async def resume_on_reply(session: AsyncSession, complaint: Complaint, now: dt.datetime) -> None:
    """The citizen answered a complaint that waited for them: back in review, its clock running again."""
    if complaint.status != "waiting":
        return
    session.add(resume_clock(complaint, now, "citizen"))
    session.add(
        ComplaintEvent(
            complaint_id=complaint.id,  # type: ignore[arg-type]
            kind="status",
            from_status="waiting",
            to_status="in_review",
            note="the citizen replied",
            actor="citizen",
            created_at=now,
        )
    )
    complaint.status = "in_review"
    complaint.status_reason = None
    complaint.updated_at = now
    session.add(complaint)
