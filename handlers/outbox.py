"""Replies a channel cannot deliver now, kept in the outbox (bot.models.Notification) by the message's own commit.

Written as plain SQL in the message's transaction: the replies are stored exactly when the message is, so a crash
can lose neither, and a backlog costs one statement per reply instead of a transaction of its own.
"""

from __future__ import annotations

import datetime as dt

from bot.transactions import Unit
from handlers.messages import Incoming, Option, Outcome, Reply

KEEP_REPLY = """
INSERT INTO notification (channel, user_id, language, kind, text, options, status, attempts, next_attempt_at,
                          created_at)
VALUES (:channel, :user_id, :language, 'reply', :text, :options, 'pending', 0, :now, :now)"""


def keep_replies(unit: Unit, msg: Incoming, outcome: Outcome, now: dt.datetime) -> None:
    """Put the outcome's replies in the outbox for the sender, in order, and mark the outcome as kept."""
    codec = unit.codec
    for reply in outcome.replies:
        options = [{"label": option.label, "payload": option.payload} for option in reply.options]
        values = {
            "channel": msg.channel,
            "user_id": msg.user_id[:128],
            "language": outcome.language,
            "text": reply.text,
            "options": codec.json_in(options),
            "now": codec.time_in(now),
        }
        unit.later(KEEP_REPLY, values)
    outcome.kept = bool(outcome.replies)


KEEP_OUTCOME = """
UPDATE processed_message SET outcome = :outcome WHERE channel = :channel AND external_id = :external_id"""
STORED_OUTCOME = """
SELECT outcome, delivered FROM processed_message WHERE channel = :channel AND external_id = :external_id"""
MARK_DELIVERED = """
UPDATE processed_message SET delivered = :count
WHERE channel = :channel AND external_id = :external_id AND delivered < :count"""


def keep_outcome(unit: Unit, msg: Incoming, outcome: Outcome) -> None:
    """Store the replies with the message's own claim, in its transaction: a redelivery (the platform never got
    the response: a timeout, a process killed after the commit) is answered with these same replies."""
    stored = {
        "language": outcome.language,
        "replies": [
            {"text": reply.text, "options": [{"label": o.label, "payload": o.payload} for o in reply.options]}
            for reply in outcome.replies
        ],
    }
    values = {"outcome": unit.codec.json_in(stored), "channel": msg.channel, "external_id": msg.message_id[:128]}
    unit.later(KEEP_OUTCOME, values)


async def stored_outcome(unit: Unit, msg: Incoming) -> Outcome:
    """The replies a message was given when it was first handled (none if it was handled before they were kept)."""
    found = await unit.rows(STORED_OUTCOME, {"channel": msg.channel, "external_id": msg.message_id[:128]})
    stored = unit.codec.json_out(found[0][0]) if found and found[0][0] is not None else None
    if not stored:
        return Outcome(duplicate=True)
    replies = [
        Reply(r["text"], tuple(Option(o["label"], o["payload"]) for o in r.get("options", [])))
        for r in stored.get("replies", [])
    ]
    delivered = int(found[0][1] or 0)
    return Outcome(replies=replies, language=stored.get("language", "en"), duplicate=True, delivered=delivered)


async def mark_delivered(unit: Unit, msg: Incoming, count: int) -> None:
    """Record that the first `count` replies of a message went out (never moves back)."""
    unit.later(MARK_DELIVERED, {"count": count, "channel": msg.channel, "external_id": msg.message_id[:128]})
