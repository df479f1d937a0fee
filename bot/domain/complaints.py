"""Complaints: filing, reference numbers, lifecycle and the notifications each change puts in the outbox.

Used by the chat flow and by staff tools alike; every function works inside the caller's transaction, so a
complaint, its history and its notification commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.deadlines import add_working_days
from bot.domain.pause import pause_clock, restart_clock, resume_clock
from bot.domain.routing import route
from bot.domain.routing_data import RoutingData, load_routing
from bot.models import Complaint, ComplaintCounter, ComplaintEvent, Notification, utcnow
from bot.settings import get_settings
from knowledge.loader import KnowledgeBase
from knowledge.normalize import normalize_chars

STATUSES = ("received", "in_review", "waiting", "resolved", "rejected", "closed")
OPEN_STATUSES = ("received", "in_review")  # open with the clock running ("waiting" for the citizen pauses it)
# Which status changes staff may make; the citizen's "reopen" (resolved -> in_review) is `reopen` below. A resolved
# complaint waits for the citizen's verdict (bot/domain/verdict.py): "yes" or silence closes it, "no" reopens it.
# Staff moving a resolved, rejected or closed complaint back in review reopen it too, with a reason (REOPENED_FROM).
TRANSITIONS = {
    "received": {"in_review", "waiting", "resolved", "rejected"},
    "in_review": {"waiting", "resolved", "rejected", "received"},
    "waiting": {"in_review", "resolved", "rejected"},
    "resolved": {"in_review", "closed"},
    "rejected": {"in_review"},
    "closed": {"in_review"},
}
REOPENED_FROM = frozenset({"resolved", "rejected", "closed"})
REOPEN_DAYS = 14
DUPLICATE_WINDOW = dt.timedelta(hours=1)
DUPLICATE_SIMILARITY = 90.0
REFERENCE_PREFIX = "CMP"


class ComplaintError(ValueError):
    """A change that the lifecycle does not allow; the message says why."""


@dataclass
class Draft:
    """What the citizen told the chat flow, before they confirmed it."""

    channel: str
    user_id: str
    category: str
    district: str
    description: str
    language: str = "en"
    display_name: str | None = None
    district_text: str | None = None
    answers: dict[str, Any] | None = None
    attachments: list[dict[str, Any]] | None = None
    latitude: float | None = None
    longitude: float | None = None
    contact_consent: bool = False
    province: str | None = None  # the district's province (places.yaml), for routing rules by province


def format_reference(year: int, number: int) -> str:
    """CMP-2026-000123: short enough to read out on a phone."""
    return f"{REFERENCE_PREFIX}-{year}-{number:06d}"


def parse_reference(text: str) -> str | None:
    """A reference as the citizen typed it ("cmp 2026 123", "CMP-2026-000123") in canonical form."""
    words = normalize_chars(text).upper().split()
    if len(words) == 3 and words[0] == REFERENCE_PREFIX and words[1].isdigit() and words[2].isdigit():
        return format_reference(int(words[1]), int(words[2]))
    return None


async def next_reference(session: AsyncSession, year: int) -> str:
    """Allocate the next number for `year` with one atomic INSERT ... ON CONFLICT ... RETURNING."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(ComplaintCounter)
        .values(year=year, value=1)
        .on_conflict_do_update(index_elements=["year"], set_={"value": ComplaintCounter.value + 1})
        .returning(ComplaintCounter.value)
    )
    number = (await session.exec(statement)).scalar_one()  # type: ignore[call-overload]
    return format_reference(year, number)


async def recent_duplicate(session: AsyncSession, draft: Draft, now: dt.datetime) -> Complaint | None:
    """The same user's complaint in the same category with near-identical text, filed within the hour."""
    rows = await session.exec(
        select(Complaint).where(
            Complaint.channel == draft.channel,
            Complaint.user_id == draft.user_id,
            Complaint.category == draft.category,
            Complaint.created_at >= now - DUPLICATE_WINDOW,
        )
    )
    wanted = normalize_chars(draft.description)
    for complaint in rows:
        if fuzz.ratio(wanted, normalize_chars(complaint.description)) >= DUPLICATE_SIMILARITY:
            return complaint
    return None


async def file_complaint(
    session: AsyncSession, draft: Draft, now: dt.datetime | None = None, routing: RoutingData | None = None
) -> Complaint:
    """Store a confirmed complaint with its reference, its body (None when no rule matches: the Unrouted queue),
    its due time, and a "filed" event saying where it went. `routing` defaults to KNOWLEDGE_DIR's routing.yaml."""
    now = now or utcnow()
    routing = routing or load_routing(get_settings().knowledge_dir)
    body_id = await route(session, draft.category, draft.province, draft.district)
    due_at = add_working_days(now, routing.deadlines.working_days(draft.category), routing.holidays)
    complaint = Complaint(
        reference=await next_reference(session, now.year),
        channel=draft.channel,
        user_id=draft.user_id,
        display_name=draft.display_name,
        language=draft.language,
        category=draft.category,
        district=draft.district,
        district_text=draft.district_text,
        description=draft.description,
        answers=draft.answers or {},
        attachments=draft.attachments or [],
        latitude=draft.latitude,
        longitude=draft.longitude,
        contact_consent=draft.contact_consent,
        body_id=body_id,
        due_at=due_at,
        created_at=now,
        updated_at=now,
    )
    session.add(complaint)
    await session.flush()
    assert complaint.id is not None
    note = f"routed to {body_id} by rule" if body_id else "no routing rule matches: waiting in the Unrouted queue"
    session.add(
        ComplaintEvent(
            complaint_id=complaint.id, kind="filed", to_status="received", note=note, actor="citizen", created_at=now
        )
    )
    return complaint


async def complaints_of(session: AsyncSession, channel: str, user_id: str, limit: int = 10) -> list[Complaint]:
    rows = await session.exec(
        select(Complaint)
        .where(Complaint.channel == channel, Complaint.user_id == user_id)
        .order_by(col(Complaint.created_at).desc(), col(Complaint.id).desc())
        .limit(limit)
    )
    return list(rows)


async def own_complaint(session: AsyncSession, channel: str, user_id: str, reference: str) -> Complaint | None:
    """The complaint only if this user filed it: another person's reference is as unknown as a wrong one."""
    row = await session.exec(
        select(Complaint).where(
            Complaint.reference == reference, Complaint.channel == channel, Complaint.user_id == user_id
        )
    )
    return row.first()


async def history(session: AsyncSession, complaint: Complaint, *, public_only: bool) -> list[ComplaintEvent]:
    query = select(ComplaintEvent).where(ComplaintEvent.complaint_id == complaint.id)
    if public_only:
        query = query.where(col(ComplaintEvent.public).is_(True))
    return list(await session.exec(query.order_by(col(ComplaintEvent.created_at), col(ComplaintEvent.id))))


def _notify(
    session: AsyncSession,
    kb: KnowledgeBase,
    complaint: Complaint,
    event: ComplaintEvent,
    text: str,
    options: list[dict[str, str]] | None = None,
) -> None:
    assert complaint.id is not None and event.id is not None
    session.add(
        Notification(
            complaint_id=complaint.id,
            event_id=event.id,
            channel=complaint.channel,
            user_id=complaint.user_id,
            language=complaint.language,
            text=text,
            options=options or [],
        )
    )


def verdict_options(kb: KnowledgeBase, complaint: Complaint) -> list[dict[str, str]]:
    """The buttons of the "Was it solved?" question that comes with the resolution."""
    return [
        {"label": kb.texts("opt_yes", complaint.language), "payload": f"verdict:yes:{complaint.reference}"},
        {"label": kb.texts("opt_no", complaint.language), "payload": f"verdict:no:{complaint.reference}"},
    ]


def status_name(kb: KnowledgeBase, status: str, lang: str) -> str:
    return kb.texts(f"status_{status}", lang)


async def change_status(
    session: AsyncSession,
    kb: KnowledgeBase,
    complaint: Complaint,
    new_status: str,
    *,
    actor: str,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> ComplaintEvent:
    """Move a complaint along its lifecycle, log it, and queue the citizen's notification."""
    now = now or utcnow()
    if new_status not in STATUSES:
        raise ComplaintError(f"unknown status {new_status!r}")
    if new_status not in TRANSITIONS[complaint.status]:
        raise ComplaintError(f"a {complaint.status} complaint cannot become {new_status}")
    if new_status == "rejected" and not (reason and reason.strip()):
        raise ComplaintError("a rejection needs a reason")
    reopening = complaint.status in REOPENED_FROM and new_status == "in_review"
    if reopening and not (reason and reason.strip()):
        raise ComplaintError("reopening needs a reason")
    event = ComplaintEvent(
        complaint_id=complaint.id,  # type: ignore[arg-type]
        kind="reopened" if reopening else "status",
        from_status=complaint.status,
        to_status=new_status,
        note=reason.strip() if reason else None,
        public=True,
        actor=actor,
        created_at=now,
    )
    if complaint.status == "waiting":
        session.add(resume_clock(complaint, now, actor))
    if new_status == "waiting":
        pause_clock(complaint, now)
    complaint.status = new_status
    complaint.status_reason = reason.strip() if reason else None
    if reopening:  # as the citizen's reopen: the old resolution's reason and rating go, the clock starts again
        complaint.status_reason = None
        complaint.rating = None
        session.add(restart_clock(complaint, now, actor))
    complaint.updated_at = now
    if new_status != "closed":  # closing keeps the time it was resolved
        complaint.resolved_at = now if new_status == "resolved" else None
    session.add_all([complaint, event])
    await session.flush()
    lang = complaint.language
    text = kb.texts("notify_status", lang, reference=complaint.reference, status=status_name(kb, new_status, lang))
    if event.note:
        text += "\n" + kb.texts("status_reason", lang, reason=event.note)
    options = None
    if new_status == "resolved":
        text += "\n\n" + kb.texts("verdict_ask", lang)
        options = verdict_options(kb, complaint)
    _notify(session, kb, complaint, event, text, options)
    return event


async def add_note(
    session: AsyncSession,
    kb: KnowledgeBase,
    complaint: Complaint,
    note: str,
    *,
    actor: str,
    public: bool,
    published: str | None = None,
    now: dt.datetime | None = None,
) -> ComplaintEvent:
    """A note on the history; a public one is also sent to the citizen. `published` is separate text written for
    anyone to read (Open311's status_notes): the note goes to one citizen and may well name them."""
    if not note.strip():
        raise ComplaintError("the note is empty")
    now = now or utcnow()
    kind = "public_note" if public else "internal_note"
    event = ComplaintEvent(
        complaint_id=complaint.id,  # type: ignore[arg-type]
        kind=kind,
        note=note.strip(),
        public=public,
        published_note=published.strip() if published and published.strip() else None,
        actor=actor,
        created_at=now,
    )
    complaint.updated_at = now
    session.add_all([complaint, event])
    await session.flush()
    if public:
        text = kb.texts("notify_note", complaint.language, reference=complaint.reference, note=event.note)
        _notify(session, kb, complaint, event, text)
    return event


async def reopen(
    session: AsyncSession, complaint: Complaint, now: dt.datetime | None = None, reason: str | None = None
) -> ComplaintEvent:
    """The citizen reopens a resolved complaint, within REOPEN_DAYS of its resolution, saying why: it goes back to
    its body's queue in review, the old resolution reason cleared and the citizen's reason in its history."""
    now = now or utcnow()
    if complaint.status != "resolved":
        raise ComplaintError("not resolved")
    if complaint.resolved_at and now - complaint.resolved_at > dt.timedelta(days=REOPEN_DAYS):
        raise ComplaintError("too late")
    event = ComplaintEvent(
        complaint_id=complaint.id,  # type: ignore[arg-type]
        kind="reopened",
        from_status="resolved",
        to_status="in_review",
        note=reason.strip()[:2000] if reason and reason.strip() else None,
        public=True,
        actor="citizen",
        created_at=now,
    )
    complaint.status = "in_review"
    complaint.status_reason = None
    complaint.resolved_at = None
    complaint.rating = None
    complaint.updated_at = now
    session.add_all([complaint, event, restart_clock(complaint, now, "citizen")])
    return event


async def rate(session: AsyncSession, complaint: Complaint, rating: int, now: dt.datetime | None = None) -> None:
    """The citizen rates the outcome of a resolved (or closed) complaint, 1 to 5 (a new rating replaces the old)."""
    if complaint.status not in ("resolved", "closed"):
        raise ComplaintError("not resolved")
    if not 1 <= rating <= 5:
        raise ComplaintError("rating must be 1 to 5")
    now = now or utcnow()
    complaint.rating = rating
    complaint.updated_at = now
    session.add(complaint)
    session.add(
        ComplaintEvent(
            complaint_id=complaint.id,  # type: ignore[arg-type]
            kind="rated",
            note=str(rating),
            actor="citizen",
            created_at=now,
        )
    )


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.exec(select(Complaint.status, func.count()).group_by(Complaint.status))  # type: ignore[call-overload]
    return {status: count for status, count in rows}
