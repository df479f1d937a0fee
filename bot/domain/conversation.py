"""Complaint conversations: a citizen's messages added to their complaint, handovers to a person, and staff
replies, which reach the citizen through the outbox (the path public notes take). Every change is a history row
with who and when; everything runs in the caller's transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.media import attach
from bot.domain.pause import resume_on_reply
from bot.domain.reply_window import queue_reply
from bot.models import Complaint, ComplaintEvent, Handover, HandoverMessage, Notification, utcnow
from knowledge.loader import KnowledgeBase

CITIZEN = "citizen"
BOT = "bot"
MAX_REPLY_CHARS = 2000


class ConversationError(ValueError):
    """A conversation change that is not allowed; the message says why (shown to staff)."""


def _event(complaint: Complaint, kind: str, actor: str, now: dt.datetime, **values: Any) -> ComplaintEvent:
    return ComplaintEvent(complaint_id=complaint.id, kind=kind, actor=actor, created_at=now, **values)  # type: ignore[arg-type]


def _log(handover: Handover, complaint: Complaint | None, kind: str, actor: str, now: dt.datetime, **values: Any):  # type: ignore[no-untyped-def]
    """A conversation row: a complaint event when the handover is about a complaint, else a handover message."""
    if complaint is not None:
        return _event(complaint, kind, actor, now, note=values.get("text"), attachments=values.get("attachments"))
    return HandoverMessage(
        handover_id=handover.id,  # type: ignore[arg-type]
        kind=kind,
        actor=actor,
        text=values.get("text"),
        attachments=values.get("attachments") or [],
        created_at=now,
    )


async def add_citizen_message(
    session: AsyncSession,
    complaint: Complaint,
    text: str,
    attachments: list[dict[str, Any]] | None = None,
    now: dt.datetime | None = None,
) -> ComplaintEvent:
    """The citizen's message, kept on their complaint for staff (not answered by the bot); a complaint that waited
    for the citizen goes back in review with its clock running (bot/domain/pause.py)."""
    now = now or utcnow()
    await resume_on_reply(session, complaint, now)
    event = _event(complaint, "citizen_message", CITIZEN, now, note=text.strip() or None, attachments=attachments)
    complaint.updated_at = now
    session.add_all([complaint, event])
    await session.flush()
    await attach(session, complaint.channel, complaint.user_id, attachments, event_id=event.id)
    return event


async def bot_said(
    session: AsyncSession, handover: Handover | None, complaint: Complaint | None, text: str, now: dt.datetime
) -> None:
    """What the bot told the citizen in their conversation (a confirmation, office hours, the end of a
    conversation), kept with it so that staff read both sides in order. The bot's answers to questions are not."""
    if complaint is not None:
        session.add(_event(complaint, "bot_message", BOT, now, note=text))
    elif handover is not None:
        session.add(_log(handover, None, "bot_message", BOT, now, text=text))
    await session.flush()


async def asked_bot_instead(session: AsyncSession, complaint: Complaint, now: dt.datetime | None = None) -> None:
    """The citizen's last message was for the bot: noted, and their next messages go to the bot again."""
    session.add(_event(complaint, "asked_bot", CITIZEN, now or utcnow()))
    await session.flush()


async def request_handover(
    session: AsyncSession,
    channel: str,
    user_id: str,
    *,
    language: str,
    display_name: str | None,
    complaint: Complaint | None,
    now: dt.datetime | None = None,
) -> Handover:
    """Open a conversation waiting for staff, about `complaint` or about something new."""
    now = now or utcnow()
    handover = Handover(
        channel=channel,
        user_id=user_id,
        display_name=display_name,
        language=language,
        complaint_id=complaint.id if complaint else None,
        requested_at=now,
    )
    session.add(handover)
    await session.flush()
    session.add(_log(handover, complaint, "handover_requested", CITIZEN, now))
    await session.flush()
    return handover


async def citizen_said(
    session: AsyncSession,
    handover: Handover,
    complaint: Complaint | None,
    text: str,
    attachments: list[dict[str, Any]] | None,
    now: dt.datetime,
) -> None:
    """A message the citizen sent while the conversation waits for or is held by staff: stored, never lost. A
    complaint that waited for the citizen goes back in review with its clock running, as outside a handover."""
    if complaint is not None:
        await resume_on_reply(session, complaint, now)
        complaint.updated_at = now
        session.add(complaint)
    handover.last_citizen_at = now
    session.add(handover)
    row = _log(handover, complaint, "citizen_message", CITIZEN, now, text=text.strip() or None, attachments=attachments)
    session.add(row)
    await session.flush()
    where = {"event_id": row.id} if complaint is not None else {"message_id": row.id}
    await attach(session, handover.channel, handover.user_id, attachments, **where)


async def end_handover(
    session: AsyncSession, handover: Handover, complaint: Complaint | None, actor: str, kind: str, now: dt.datetime
) -> None:
    """The conversation goes back to the bot ("back to the bot", hand back or close)."""
    if handover.status == "closed":
        raise ConversationError("the conversation is closed already")
    handover.status = "closed"
    handover.closed_at = now
    handover.closed_by = actor
    session.add(handover)
    session.add(_log(handover, complaint, kind, actor, now))
    await session.flush()


async def take_over(
    session: AsyncSession,
    handover: Handover,
    complaint: Complaint | None,
    username: str,
    now: dt.datetime | None = None,
) -> None:
    """An agent takes the conversation: from now on the bot stays quiet for this citizen."""
    now = now or utcnow()
    if handover.status == "closed":
        raise ConversationError("the conversation is closed")
    if handover.status == "taken" and handover.taken_by == username:
        return
    handover.status = "taken"
    handover.taken_by = username
    handover.taken_at = now
    session.add(handover)
    session.add(_log(handover, complaint, "taken_over", f"staff:{username}", now))
    await session.flush()


def _row(complaint: Complaint | None, handover: Handover | None, event_id: int | None, text: str) -> Notification:
    target = complaint or handover
    assert target is not None
    return Notification(
        complaint_id=complaint.id if complaint else None,
        event_id=event_id,
        channel=target.channel,
        user_id=target.user_id,
        language=target.language,
        text=text,
    )


def _queue(
    session: AsyncSession, complaint: Complaint | None, handover: Handover | None, event_id: int | None, text: str
) -> None:
    session.add(_row(complaint, handover, event_id, text))


async def staff_reply(
    session: AsyncSession,
    kb: KnowledgeBase,
    *,
    complaint: Complaint | None,
    handover: Handover | None,
    text: str,
    username: str,
    now: dt.datetime | None = None,
) -> None:
    """A staff member's message to the citizen: in the history with who and when, and queued in the outbox."""
    text = text.strip()
    if not text:
        raise ConversationError("the reply is empty")
    if len(text) > MAX_REPLY_CHARS:
        raise ConversationError(f"the reply is longer than {MAX_REPLY_CHARS} characters")
    if complaint is not None and complaint.erased_at is not None:
        raise ConversationError("the citizen's data was erased at their request: they cannot be messaged")
    now = now or utcnow()
    actor = f"staff:{username}"
    if complaint is not None:
        event = _event(complaint, "staff_reply", actor, now, note=text, public=True)
        complaint.updated_at = now
        session.add_all([complaint, event])
        await session.flush()
        message = kb.texts("staff_reply", complaint.language, reference=complaint.reference, text=text)
        # WhatsApp outside its 24-hour window: held behind an invitation to reply (bot/domain/reply_window.py)
        await queue_reply(session, kb, _row(complaint, None, event.id, message), reference=complaint.reference, now=now)
        return
    assert handover is not None
    if handover.status == "closed":
        raise ConversationError("the conversation is closed")
    session.add(_log(handover, None, "staff_reply", actor, now, text=text))
    message = kb.texts("staff_reply_new", handover.language, text=text)
    await queue_reply(session, kb, _row(None, handover, None, message), reference=None, now=now)
    await session.flush()


async def hand_back(
    session: AsyncSession,
    kb: KnowledgeBase,
    handover: Handover,
    complaint: Complaint | None,
    username: str,
    *,
    close: bool,
    now: dt.datetime | None = None,
) -> None:
    """Staff end the conversation (hand it back to the bot, or close it); the citizen is told the bot is back."""
    now = now or utcnow()
    await end_handover(session, handover, complaint, f"staff:{username}", "closed" if close else "handed_back", now)
    if complaint is not None and complaint.erased_at is not None:
        return
    text = kb.texts("handover_ended_by_staff", handover.language)
    await bot_said(session, handover, complaint, text, now)
    _queue(session, complaint, handover, None, text)
