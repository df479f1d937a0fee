"""WhatsApp's 24-hour rule for staff replies. Inside the customer-service window a reply goes as text; outside it
the citizen is sent the approved template inviting them to reply (TWILIO_TEMPLATE_CONTENT_SID, whose variable
carries the invitation, not the reply), and the reply itself is held in the outbox. When the citizen writes again
(the window opens), the sender releases the held replies one at a time per citizen, in the order they were written,
and sends them as text. Held rows live in the database, so a restart loses nothing and several senders send each
once (the outbox's claims). Telegram has no window."""

from __future__ import annotations

import datetime as dt

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import Database
from bot.models import Notification, utcnow
from bot.storage import held_replies
from knowledge.loader import KnowledgeBase

# Free text is allowed for 24 hours after the citizen's last message; a few minutes' margin, as the WhatsApp
# channel keeps for notifications (bot/channels/whatsapp/send.py FREE_TEXT_WINDOW; a test keeps them equal).
WINDOWS: dict[str, dt.timedelta] = {"whatsapp": dt.timedelta(hours=24) - dt.timedelta(minutes=5)}
INVITATION = "invitation"  # Notification.kind of the invitation to reply


def outside(channel: str, last_inbound_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether free text cannot reach a citizen of `channel` who last wrote at `last_inbound_at` (None: never)."""
    window = WINDOWS.get(channel)
    if window is None:
        return False
    return last_inbound_at is None or now - last_inbound_at >= window


async def outside_window(session: AsyncSession, channel: str, user_id: str) -> bool:
    """For the reply box: whether a reply now would be held behind an invitation."""
    if channel not in WINDOWS:
        return False
    return outside(channel, await held_replies.last_inbound_at(session, channel, user_id), utcnow())


async def queue_reply(
    session: AsyncSession,
    kb: KnowledgeBase,
    reply: Notification,
    *,
    reference: str | None,
    now: dt.datetime,
) -> bool:
    """Queue a staff reply: as it is inside the window, else held behind an invitation to reply (one invitation
    for the replies held since the citizen last wrote). True when it was held."""
    last = await held_replies.last_inbound_at(session, reply.channel, reply.user_id)
    if not outside(reply.channel, last, now):
        session.add(reply)
        return False
    if not await held_replies.has_held(session, reply.channel, reply.user_id):
        key = "staff_reply_invitation" if reference else "staff_reply_invitation_new"
        session.add(
            Notification(
                complaint_id=reply.complaint_id,  # its answer lands on the complaint, as a note's does
                channel=reply.channel,
                user_id=reply.user_id,
                language=reply.language,
                kind=INVITATION,
                text=kb.texts(key, reply.language, reference=reference),
                created_at=now,
                next_attempt_at=now,
            )
        )
        await session.flush()  # the invitation's id comes first: the held text waits for it to be sent
    reply.status = held_replies.HELD
    session.add(reply)
    await session.flush()
    return True


async def release_opened(db: Database, now: dt.datetime | None = None) -> int:
    """Make due the next held reply of each citizen whose window is open again; how many were released."""
    now = now or utcnow()
    released = 0
    for channel, window in WINDOWS.items():
        async with db.session() as session, session.begin():
            for notification_id in await held_replies.next_to_release(session, channel, now - window):
                released += await held_replies.release(session, notification_id, now)
    return released
