"""The notification sender: delivers outbox rows through their channel, with retries and backoff.

Safe in several processes at once: a row is claimed with a compare-and-set UPDATE (only one process can move
it from "pending" to "sending"), and a claim is a lease, so a row held by a process that died is picked up
again after the lease runs out. A message is therefore sent once, except when a process dies between the
network accepting it and the row being marked sent (then it may be sent again after the lease).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy import and_, or_, update
from sqlmodel import col, select

from bot.channels import network_channel_names
from bot.channels.base import SendError
from bot.core import Core
from bot.models import Notification, utcnow
from bot.privacy import purge_logs
from handlers.messages import Option, Reply

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (10, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
# Channels with no way to message a user unprompted: their notifications are shown in `status` instead.
PURGE_EVERY_SECONDS = 3600.0


def _due(now: dt.datetime):  # type: ignore[no-untyped-def]
    return or_(
        and_(col(Notification.status) == "pending", col(Notification.next_attempt_at) <= now),
        and_(col(Notification.status) == "sending", col(Notification.locked_until) < now),
    )


async def queue_replies(core: Core, channel: str, user_id: str, language: str, replies: list[Reply]) -> None:
    """Keep chat replies that could not be delivered (the network was down) for the sender to retry."""
    async with core.db.session() as session, session.begin():
        for reply in replies:
            session.add(
                Notification(
                    channel=channel,
                    user_id=user_id,
                    language=language,
                    kind="reply",
                    text=reply.text,
                    options=[{"label": o.label, "payload": o.payload} for o in reply.options],
                )
            )


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1])


async def _claim(core: Core, now: dt.datetime, limit: int) -> list[Notification]:
    """Take up to `limit` due rows for this process; each row goes to exactly one claimant."""
    lease = dt.timedelta(seconds=core.settings.outbox_lease_seconds)
    async with core.db.session() as session:
        ids = list(
            await session.exec(
                select(Notification.id).where(_due(now)).order_by(col(Notification.next_attempt_at)).limit(limit)
            )
        )
    claimed = []
    for notification_id in ids:
        async with core.db.session() as session, session.begin():
            result = await session.exec(  # type: ignore[call-overload]
                update(Notification)
                .where(col(Notification.id) == notification_id, _due(now))
                .values(status="sending", locked_until=now + lease, attempts=Notification.attempts + 1)
            )
            if result.rowcount != 1:
                continue  # another process took it
            claimed.append(await session.get(Notification, notification_id))
    return [n for n in claimed if n is not None]


async def _finish(core: Core, notification_id: int, **values: object) -> None:
    async with core.db.session() as session, session.begin():
        await session.exec(  # type: ignore[call-overload]
            update(Notification)
            .where(col(Notification.id) == notification_id, col(Notification.status) == "sending")
            .values(locked_until=None, **values)
        )


async def deliver_due(core: Core, now: dt.datetime | None = None, limit: int = 50) -> int:
    """Send what is due now; returns how many were sent."""
    now = now or utcnow()
    sent = 0
    for notification in await _claim(core, now, limit):
        assert notification.id is not None
        channel = core.channels.get(notification.channel)
        if channel is None and notification.channel not in network_channel_names():
            await _finish(core, notification.id, status="failed", last_error="channel cannot message users first")
            continue
        try:
            if channel is None:
                raise SendError(f"channel {notification.channel} is not configured in this process")
            options = [Option(o["label"], o["payload"]) for o in notification.options]
            result = await channel.send(notification.user_id, notification.text, options)
        except Exception as exc:  # a channel bug must not stop the other notifications
            retryable = exc.retryable if isinstance(exc, SendError) else True
            error = f"{type(exc).__name__}: {exc}"[:500]
            if retryable and notification.attempts < MAX_ATTEMPTS:
                retry_at = now + backoff(notification.attempts)
                await _finish(core, notification.id, status="pending", next_attempt_at=retry_at, last_error=error)
                log.warning(
                    "notification %s: attempt %s failed, retry at %s: %s",
                    notification.id,
                    notification.attempts,
                    retry_at.isoformat(),
                    type(exc).__name__,
                )
            else:
                await _finish(core, notification.id, status="failed", last_error=error)
                log.error("notification %s failed for good: %s", notification.id, type(exc).__name__)
            continue
        await _finish(
            core, notification.id, status="sent", sent_at=utcnow(), external_id=result.external_id, last_error=None
        )
        sent += 1
    return sent


async def purge_due(core: Core) -> int:
    """Delete message logs older than MESSAGE_LOG_DAYS (privacy: keep no more than needed)."""
    async with core.db.session() as session, session.begin():
        return await purge_logs(session, core.settings.message_log_days)


async def run_sender(core: Core, stop: asyncio.Event, interval: float) -> None:
    """Deliver due notifications every `interval` seconds until `stop` is set; purge old logs hourly."""
    next_purge = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            await deliver_due(core)
            if loop.time() >= next_purge:
                purged = await purge_due(core)
                next_purge = loop.time() + PURGE_EVERY_SECONDS
                if purged:
                    log.info("purged %s log rows older than %s days", purged, core.settings.message_log_days)
        except Exception:  # the database may be down for a while; keep trying
            log.exception("notification sender: round failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
