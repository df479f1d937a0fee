"""Replies a channel cannot deliver now, kept in the outbox (bot.models.Notification) by the message's own commit.

Written as plain SQL in the message's transaction: the replies are stored exactly when the message is, so a crash
can lose neither, and a backlog costs one statement per reply instead of a transaction of its own.
"""

from __future__ import annotations

import datetime as dt

from bot.transactions import Unit
from handlers.messages import Incoming, Outcome

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
