"""A message's replies as stored with its commit (bot.storage.replies): kept for a redelivery, and put in the
outbox when the channel cannot deliver them now (a dead-letter retry, whose request is long gone)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.storage import replies as stored
from handlers.messages import Incoming, Option, Outcome, Reply


def _options(reply: Reply) -> list[dict[str, str]]:
    return [{"label": option.label, "payload": option.payload} for option in reply.options]


async def keep_replies(session: AsyncSession, msg: Incoming, outcome: Outcome, now: dt.datetime) -> None:
    """Put the outcome's replies in the outbox for the sender, in order, and mark the outcome as kept."""
    queued = [(reply.text, _options(reply)) for reply in outcome.replies]
    await stored.queue_replies(session, msg.channel, msg.user_id, outcome.language, queued, now)
    # In the outbox they count as delivered: a redelivery of the message must not send them a second time.
    await stored.mark_delivered(session, msg.channel, msg.message_id, len(outcome.replies))
    outcome.kept = bool(outcome.replies)


async def keep_outcome(session: AsyncSession, msg: Incoming, outcome: Outcome) -> None:
    """Store the replies with the message's own claim: a redelivery is answered with these same replies."""
    record: dict[str, Any] = {
        "language": outcome.language,
        "replies": [{"text": reply.text, "options": _options(reply)} for reply in outcome.replies],
    }
    await stored.keep_outcome(session, msg.channel, msg.message_id, record)


async def stored_outcome(session: AsyncSession, msg: Incoming) -> Outcome:
    """The replies a message was given when it was first handled (none if it was handled before they were kept)."""
    record, delivered = await stored.stored_outcome(session, msg.channel, msg.message_id)
    if not record:
        return Outcome(duplicate=True)
    replies = [
        Reply(r["text"], tuple(Option(o["label"], o["payload"]) for o in r.get("options", [])))
        for r in record.get("replies", [])
    ]
    return Outcome(replies=replies, language=record.get("language", "en"), duplicate=True, delivered=delivered)


async def mark_delivered(session: AsyncSession, msg: Incoming, count: int) -> None:
    """Record that the first `count` replies of a message went out."""
    await stored.mark_delivered(session, msg.channel, msg.message_id, count)
