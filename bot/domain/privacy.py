"""A citizen's personal data: what is stored about them, erasing it on request, and purging old logs.

Erasure keeps complaints for statistics but strips everything that identifies or describes the person:
name, chat id, text, attachments (the stored files too), location and staff notes; the staff view then shows them
as erased. Their dead letters (messages kept after a failure, with the raw payload) are deleted, and purged like
message records.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import media
from bot.models import (
    Complaint,
    ComplaintEvent,
    Conversation,
    DeadLetter,
    Handover,
    HandoverMessage,
    Notification,
    ProcessedMessage,
    UnansweredQuestion,
    UserProfile,
    utcnow,
)
from bot.storage import media as media_rows
from bot.storage import reachability
from bot.storage.unanswered import erase_questions

ERASED_TEXT = "(erased at the citizen's request)"
# WhatsApp claims each request's signature too, under this prefix (bot/channels/whatsapp/channel.py): not a message.
REPLAY_KEY_PREFIX = "signature:"


def pseudonym(channel: str, user_id: str, key: str) -> str:
    """A stable stand-in for an erased user id, so statistics can still count one person once.

    Keyed (HMAC with the server's SECRET_KEY): phone numbers and chat ids are few enough that an unkeyed hash is
    reversed by trying them all."""
    digest = hmac.new(key.encode(), f"{channel}:{user_id}".encode(), hashlib.sha256).hexdigest()
    return "erased:" + digest[:16]


@dataclass
class Stored:
    profile: UserProfile | None
    conversation: Conversation | None
    messages: int
    complaints: list[Complaint]
    files: int = 0  # sent to staff in conversations (bot/domain/media.py)


async def stored_about(session: AsyncSession, channel: str, user_id: str) -> Stored:
    profile = await session.get(UserProfile, (channel, user_id))
    conversation = await session.get(Conversation, (channel, user_id))
    messages = (
        await session.exec(
            select(func.count())
            .select_from(ProcessedMessage)
            .where(ProcessedMessage.channel == channel, ProcessedMessage.user_id == user_id)
            .where(~col(ProcessedMessage.external_id).startswith(REPLAY_KEY_PREFIX))
        )
    ).one()
    complaints = list(
        await session.exec(
            select(Complaint)
            .where(Complaint.channel == channel, Complaint.user_id == user_id)
            .order_by(col(Complaint.created_at))
        )
    )
    files = await media_rows.count_of_user(session, channel, user_id)
    return Stored(profile, conversation, int(messages), complaints, files)


async def erase_user(
    session: AsyncSession, channel: str, user_id: str, now: dt.datetime | None = None, *, key: str
) -> int:
    """Erase one person's personal data on one channel; returns how many complaints were anonymised.

    `key` keys their pseudonym (see `pseudonym`). Staff's words about them go too: notes, and the reason given
    for a rejection."""
    now = now or utcnow()
    alias = pseudonym(channel, user_id, key)
    complaints = list(
        await session.exec(select(Complaint).where(Complaint.channel == channel, Complaint.user_id == user_id))
    )
    for complaint in complaints:
        complaint.user_id = alias
        complaint.display_name = None
        complaint.description = ERASED_TEXT
        complaint.district_text = None
        complaint.answers = {}
        complaint.attachments = []
        complaint.latitude = complaint.longitude = None
        complaint.contact_consent = False
        complaint.status_reason = ERASED_TEXT if complaint.status_reason else None
        complaint.erased_at = now
        complaint.updated_at = now
        session.add(complaint)
    ids = [c.id for c in complaints if c.id is not None]
    if ids:
        await session.exec(  # type: ignore[call-overload]
            update(ComplaintEvent)
            .where(col(ComplaintEvent.complaint_id).in_(ids))
            .values(note=None, published_note=None, attachments=None)
        )
    await session.exec(  # type: ignore[call-overload]
        delete(Notification).where(
            Notification.channel == channel,
            Notification.user_id == user_id,
            col(Notification.status).in_(("pending", "held")),  # held: a staff reply waiting for WhatsApp's window
        )
    )
    await session.exec(  # type: ignore[call-overload]
        update(Notification)
        .where(Notification.channel == channel, Notification.user_id == user_id)
        .values(user_id=alias, text=ERASED_TEXT)
    )
    await session.exec(  # type: ignore[call-overload]
        update(ProcessedMessage)
        .where(ProcessedMessage.channel == channel, ProcessedMessage.user_id == user_id)
        .values(user_id=alias, outcome=None)
    )
    await session.exec(  # type: ignore[call-overload]
        delete(DeadLetter).where(DeadLetter.channel == channel, DeadLetter.user_id == user_id)
    )
    await media.erase(session, channel, user_id)  # before the messages its rows point at
    await reachability.forget(session, channel, user_id)
    handovers = select(Handover.id).where(Handover.channel == channel, Handover.user_id == user_id)
    await session.exec(  # type: ignore[call-overload]
        delete(HandoverMessage).where(col(HandoverMessage.handover_id).in_(handovers))
    )
    await session.exec(  # type: ignore[call-overload]
        delete(Handover).where(Handover.channel == channel, Handover.user_id == user_id)
    )
    await erase_questions(session, channel, user_id)
    await session.exec(  # type: ignore[call-overload]
        delete(Conversation).where(Conversation.channel == channel, Conversation.user_id == user_id)
    )
    await session.exec(  # type: ignore[call-overload]
        delete(UserProfile).where(UserProfile.channel == channel, UserProfile.user_id == user_id)
    )
    return len(complaints)


async def purge_logs(session: AsyncSession, days: int, now: dt.datetime | None = None) -> int:
    """Delete message records, dead letters and unanswered-question texts older than `days`; returns rows deleted."""
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    messages = await session.exec(delete(ProcessedMessage).where(col(ProcessedMessage.received_at) < cutoff))  # type: ignore[call-overload]
    questions = await session.exec(delete(UnansweredQuestion).where(col(UnansweredQuestion.created_at) < cutoff))  # type: ignore[call-overload]
    dead = await session.exec(delete(DeadLetter).where(col(DeadLetter.created_at) < cutoff))  # type: ignore[call-overload]
    return int(messages.rowcount or 0) + int(questions.rowcount or 0) + int(dead.rowcount or 0)
