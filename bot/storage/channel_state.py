"""What the channels need stored about a conversation: when the user last wrote, replies that could not be
delivered (kept in the outbox for the sender), and how far each message we sent has got (delivery statuses).
Queries only: whether a time is inside a window, or a status moves a message forward, is decided in
handlers.channel_state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlmodel import select

from bot.models import Notification, UserProfile, utcnow
from bot.storage.replies import queue_replies

if TYPE_CHECKING:
    from bot.db import Database


async def last_inbound_at(db: Database, channel: str, user_id: str) -> dt.datetime | None:
    """When the user last wrote to us on `channel`; None for a user we have never heard from."""
    async with db.session() as session:
        profile = await session.get(UserProfile, (channel, user_id))
    return None if profile is None else profile.last_inbound_at


async def keep_replies(
    db: Database, channel: str, user_id: str, language: str, replies: list[tuple[str, list[dict[str, str]]]]
) -> None:
    """Keep chat replies, each (text, options), in the outbox in order, in a transaction of their own (the message's
    has committed by the time a channel finds it cannot send them)."""
    async with db.session() as session, session.begin():
        await queue_replies(session, channel, user_id, language, replies, utcnow())


async def set_delivery_status(
    db: Database,
    channel: str,
    external_id: str,
    status: str,
    *,
    advances: Callable[[str | None], bool],
    error_code: str | None = None,
    set_error_code: bool = False,
) -> bool:
    """Set the delivery status of the notification sent as `external_id` when `advances(current status)` says so
    (and its error code, with `set_error_code`); True when it changed, False for an unknown message.

    The row is locked (FOR UPDATE; SQLite's BEGIN IMMEDIATE serialises anyway) while `advances` decides, so two
    callbacks racing each other cannot leave it at the older status.
    """
    async with db.session() as session, session.begin():
        query = select(Notification).where(Notification.channel == channel, Notification.external_id == external_id)
        notification = (await session.exec(query.with_for_update())).first()
        if notification is None or not advances(notification.delivery_status):
            return False
        notification.delivery_status = status
        if set_error_code:
            notification.delivery_error_code = error_code
        session.add(notification)
    return True
