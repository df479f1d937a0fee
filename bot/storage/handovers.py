"""Queries behind complaint conversations: who holds a citizen's chat, which complaints a citizen was just told
about, and the staff inbox. Each runs in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Complaint, ComplaintEvent, Handover, HandoverMessage, Notification, UTCDateTime

OPEN = ("waiting", "taken")
# A closed or rejected complaint is over: the citizen's later messages are questions for the bot, not replies to
# it (bot.domain.complaints.STATUSES; a resolved one still waits for the citizen's verdict, so it is not over).
FINISHED = ("closed", "rejected")


# Every message runs these two lookups: built once, with bound parameters (building a statement costs more than
# running it).
_OPEN_HANDOVER = (
    select(Handover)
    .where(
        Handover.channel == bindparam("channel"),
        Handover.user_id == bindparam("user_id"),
        col(Handover.status).in_(OPEN),
    )
    .order_by(col(Handover.id).desc())
    .limit(1)
)
_LATEST = func.max(Notification.sent_at).label("latest")
_NOTIFIED_SINCE = (
    select(Complaint, _LATEST)
    .join(Notification, col(Notification.complaint_id) == col(Complaint.id))
    .where(
        Notification.channel == bindparam("channel"),
        Notification.user_id == bindparam("user_id"),
        col(Notification.sent_at) >= bindparam("since", type_=UTCDateTime),
        col(Complaint.erased_at).is_(None),
        col(Complaint.status).not_in(FINISHED),
    )
    .group_by(col(Complaint.id))
    .order_by(_LATEST.desc())
)


async def open_handover(session: AsyncSession, channel: str, user_id: str) -> Handover | None:
    """The citizen's waiting or taken handover, if any (one indexed lookup on every message)."""
    rows = await session.exec(_OPEN_HANDOVER, params={"channel": channel, "user_id": user_id})
    return rows.first()


async def open_handover_of_complaint(session: AsyncSession, complaint_id: int) -> Handover | None:
    rows = await session.exec(
        select(Handover)
        .where(Handover.complaint_id == complaint_id, col(Handover.status).in_(OPEN))
        .order_by(col(Handover.id).desc())
        .limit(1)
    )
    return rows.first()


async def complaint_of_sent_message(
    session: AsyncSession, channel: str, user_id: str, external_id: str
) -> Complaint | None:
    """The open complaint whose notification went out as `external_id` (a Telegram message id, a Twilio SID) to
    this citizen; None when the message was no complaint's, or the complaint is closed or rejected."""
    rows = await session.exec(
        select(Complaint)
        .join(Notification, col(Notification.complaint_id) == col(Complaint.id))
        .where(
            Notification.channel == channel,
            Notification.user_id == user_id,
            Notification.external_id == external_id[:64],
            col(Complaint.erased_at).is_(None),
            col(Complaint.status).not_in(FINISHED),
        )
        .limit(1)
    )
    return rows.first()


async def notified_since(
    session: AsyncSession, channel: str, user_id: str, since: dt.datetime
) -> list[tuple[Complaint, dt.datetime]]:
    """The citizen's complaints, neither closed nor rejected, with a notification sent after `since`, with the
    latest such time, newest first."""
    rows = await session.exec(  # type: ignore[call-overload]
        _NOTIFIED_SINCE, params={"channel": channel, "user_id": user_id, "since": since}
    )
    found = []
    for complaint, sent in rows:
        if sent is not None and sent.tzinfo is None:  # SQLite hands back naive times from an aggregate
            sent = sent.replace(tzinfo=dt.UTC)
        found.append((complaint, sent))
    return found


async def last_event(
    session: AsyncSession, complaint_id: int, kinds: tuple[str, ...], actor: str | None = None
) -> ComplaintEvent | None:
    query = select(ComplaintEvent).where(
        ComplaintEvent.complaint_id == complaint_id, col(ComplaintEvent.kind).in_(kinds)
    )
    if actor is not None:
        query = query.where(ComplaintEvent.actor == actor)
    rows = await session.exec(query.order_by(col(ComplaintEvent.created_at).desc(), col(ComplaintEvent.id).desc()))
    return rows.first()


@dataclass
class InboxRow:
    handover: Handover
    reference: str | None
    category: str | None = None


def _in_categories(categories: Collection[str] | None, *, new: bool) -> list[Any]:
    """Conditions for handovers about complaints in `categories` (None: any), and when `new`, also those about no
    complaint; `categories` None and `new` False: only those about a complaint."""
    if categories is None:
        return [] if new else [col(Handover.complaint_id).is_not(None)]
    about = col(Complaint.category).in_(list(categories))
    return [or_(about, col(Handover.complaint_id).is_(None))] if new else [about]


def _of_body(body: str | None) -> list[Any]:
    """Conditions for handovers an account of `body` may see (None: any): about that body's complaints, or about
    no complaint (as the complaint pages limit by body, bot/staff/queries.py)."""
    if body is None:
        return []
    return [or_(col(Complaint.body_id) == body, col(Handover.complaint_id).is_(None))]


async def inbox(
    session: AsyncSession,
    limit: int = 200,
    *,
    categories: Collection[str] | None = None,
    new: bool = True,
    body: str | None = None,
) -> list[InboxRow]:
    """Open handovers, oldest request first, with their complaint's reference and category: those about complaints
    in `categories` (None: any) and of `body` (None: any) and, when `new`, those about something new."""
    rows = await session.exec(  # type: ignore[call-overload]
        select(Handover, Complaint.reference, Complaint.category)
        .join(Complaint, col(Complaint.id) == col(Handover.complaint_id), isouter=True)
        .where(col(Handover.status).in_(OPEN), *_in_categories(categories, new=new), *_of_body(body))
        .order_by(col(Handover.requested_at), col(Handover.id))
        .limit(limit)
    )
    return [InboxRow(handover, reference, category) for handover, reference, category in rows]


async def inbox_counts(
    session: AsyncSession, username: str, categories: Collection[str] | None = None, body: str | None = None
) -> tuple[int, int]:
    """(waiting for anyone, held by `username`): the navigation bar's counts; waiting ones only about complaints in
    `categories` (None: any) and of `body` (None: any), or about something new."""
    rows = await session.exec(  # type: ignore[call-overload]
        select(Handover.status, Handover.taken_by, func.count())
        .join(Complaint, col(Complaint.id) == col(Handover.complaint_id), isouter=True)
        .where(col(Handover.status).in_(OPEN), *_in_categories(categories, new=True), *_of_body(body))
        .group_by(Handover.status, Handover.taken_by)
    )
    waiting = mine = 0
    for status, taken_by, count in rows:
        if status == "waiting":
            waiting += int(count)
        elif taken_by == username:
            mine += int(count)
    return waiting, mine


async def conversation_mark(session: AsyncSession, *, complaint_id: int | None, handover_id: int | None) -> str:
    """A value that changes whenever the conversation does (a new message, a takeover, a hand-back): the live view
    polls it and fetches the page again only when it moved."""
    latest: Any = None
    if complaint_id is not None:
        latest = (
            await session.exec(select(func.max(ComplaintEvent.id)).where(ComplaintEvent.complaint_id == complaint_id))
        ).one()
    elif handover_id is not None:
        latest = (
            await session.exec(select(func.max(HandoverMessage.id)).where(HandoverMessage.handover_id == handover_id))
        ).one()
    state = ""
    if handover_id is not None:
        handover = await session.get(Handover, handover_id, populate_existing=True)
        state = f"{handover.status}:{handover.taken_by or ''}" if handover else ""
    return f"{latest or 0}:{state}"


async def lock_handover(session: AsyncSession, handover_id: int) -> Handover | None:
    """The handover, locked for a change (PostgreSQL), so two agents cannot both take it."""
    rows = await session.exec(select(Handover).where(Handover.id == handover_id).with_for_update())
    return rows.first()


async def messages_of(session: AsyncSession, handover_id: int) -> list[HandoverMessage]:
    rows = await session.exec(
        select(HandoverMessage)
        .where(HandoverMessage.handover_id == handover_id)
        .order_by(col(HandoverMessage.created_at), col(HandoverMessage.id))
    )
    return list(rows)


async def complaint_of(session: AsyncSession, handover: Handover) -> Complaint | None:
    """The complaint a handover is about, if it is about one."""
    return await session.get(Complaint, handover.complaint_id) if handover.complaint_id else None
