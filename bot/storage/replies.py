"""A message's replies, stored with its claim in the same transaction.

A redelivery (the platform never got the response: a timeout, a process killed after the commit) is answered with
the replies kept here; a channel that sends replies itself (Telegram) records how many went out, so a redelivery
sends only the rest. Replies a channel cannot deliver now go to the outbox (bot.models.Notification) in the same
commit, so a crash can lose neither the message nor its replies.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Notification, ProcessedMessage
from bot.storage.conversations import KEY_CHARS

TABLE = ProcessedMessage.__table__
THIS_MESSAGE = (TABLE.c.channel == bindparam("key_channel")) & (TABLE.c.external_id == bindparam("key_message_id"))
KEEP = update(TABLE).where(THIS_MESSAGE).values(outcome=bindparam("outcome", type_=TABLE.c.outcome.type))
STORED = select(TABLE.c.outcome, TABLE.c.delivered).where(THIS_MESSAGE)
DELIVERED = (
    update(TABLE).where(THIS_MESSAGE, TABLE.c.delivered < bindparam("count")).values(delivered=bindparam("count"))
)


def _key(channel: str, message_id: str) -> dict[str, str]:
    return {"key_channel": channel, "key_message_id": message_id[:KEY_CHARS]}


async def keep_outcome(session: AsyncSession, channel: str, message_id: str, stored: dict[str, Any]) -> None:
    """Store the replies (as JSON-ready data) on the message's claim."""
    await session.exec(KEEP, params={**_key(channel, message_id), "outcome": stored})


async def stored_outcome(session: AsyncSession, channel: str, message_id: str) -> tuple[dict[str, Any] | None, int]:
    """The replies kept for a handled message (None if it was handled before they were kept), and how many of
    them were delivered."""
    found = (await session.exec(STORED, params=_key(channel, message_id))).first()
    if found is None:
        return None, 0
    return found.outcome or None, int(found.delivered or 0)


async def mark_delivered(session: AsyncSession, channel: str, message_id: str, count: int) -> None:
    """Record that the first `count` replies of a message went out (never moves back)."""
    await session.exec(DELIVERED, params={**_key(channel, message_id), "count": count})


async def queue_replies(
    session: AsyncSession,
    channel: str,
    user_id: str,
    language: str,
    replies: list[tuple[str, list[dict[str, str]]]],
    now: dt.datetime,
) -> None:
    """Put replies (text, options) in the outbox for the sender, in order."""
    if not replies:
        return
    rows = [
        {
            "channel": channel,
            "user_id": user_id[:KEY_CHARS],
            "language": language,
            "kind": "reply",
            "text": text,
            "options": options,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for text, options in replies
    ]
    await session.exec(insert(Notification.__table__), params=rows)
