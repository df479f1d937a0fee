"""The rules behind what a channel asks about a conversation: is the user still inside the network's
customer-service window, and does a delivery status callback move a message we sent forward; and where replies
go that the network would not take now (the outbox).

The channels call these and get an answer; the rows are read and written by bot.storage.channel_state.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.models import utcnow
from bot.storage import channel_state, reachability
from handlers.messages import Reply

if TYPE_CHECKING:
    from bot.db import Database

log = logging.getLogger(__name__)

# Delivery statuses in the order Twilio reports them; a callback may only move a message forward.
DELIVERY_RANK = {"queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5}
DELIVERY_FAILURES = frozenset({"failed", "undelivered"})
MAX_ERROR_CODE = 16  # the column's width


def delivery_advances(current: str | None, new: str) -> bool:
    """Whether a status callback moves a message forward; late or repeated callbacks are ignored.

    failed/undelivered end the story, and arrive too late to count once the message was delivered.
    """
    if new not in DELIVERY_RANK and new not in DELIVERY_FAILURES:
        return False
    if current in DELIVERY_FAILURES:
        return False
    rank = DELIVERY_RANK.get(current or "", 0)
    if new in DELIVERY_FAILURES:
        return rank < DELIVERY_RANK["delivered"]
    return DELIVERY_RANK[new] > rank


async def record_delivery(
    db: Database, channel: str, external_id: str, status: str, error_code: str | None, *, unreachable: bool = False
) -> bool:
    """Move the notification sent as `external_id` to `status` if that is forward; True when it changed.

    A failure keeps the network's error code with it (for staff to see why); one that says the recipient cannot be
    messaged at all (`unreachable`, the channel's reading of the code) marks them unreachable for staff.
    """
    failed = status in DELIVERY_FAILURES
    changed = await channel_state.set_delivery_status(
        db,
        channel,
        external_id,
        status,
        advances=lambda current: delivery_advances(current, status),
        error_code=((error_code or "")[:MAX_ERROR_CODE] or None) if failed else None,
        set_error_code=failed,
    )
    if not changed:
        log.debug("%s: status %s for message %s not recorded (unknown, or not forward)", channel, status, external_id)
    elif failed and unreachable:
        reason = f"{channel} reported the message {status}, error {error_code}"
        await reachability.mark_recipient(db, channel, external_id, reason, utcnow())
    return changed


def wrote_within(last_inbound_at: dt.datetime | None, window: dt.timedelta, now: dt.datetime) -> bool:
    """Whether a user who last wrote at `last_inbound_at` (None: never) did so less than `window` before `now`."""
    return last_inbound_at is not None and now - last_inbound_at < window


async def inside_window(db: Database, channel: str, user_id: str, window: dt.timedelta) -> bool:
    """Whether the user wrote to us on `channel` within `window` (the network's customer-service window, less
    whatever margin the channel keeps)."""
    return wrote_within(await channel_state.last_inbound_at(db, channel, user_id), window, utcnow())


async def keep_undelivered(db: Database, channel: str, user_id: str, language: str, replies: Sequence[Reply]) -> None:
    """Replies the network would not take now (it is down): kept in the outbox, for the sender to retry."""
    rows = [(reply.text, [{"label": o.label, "payload": o.payload} for o in reply.options]) for reply in replies]
    await channel_state.keep_replies(db, channel, user_id, language, rows)
