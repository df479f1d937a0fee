"""The notification sender: delivers outbox rows through their channel, with retries and backoff.

Safe in several processes at once, and a row is sent once:
- A claim is one row (what one send can do within the lease), taken with a compare-and-set UPDATE that stamps it
  with a claim token of its own; a row held by a process that died is taken over once its lease has run out.
- While a send runs, the lease is extended (a heartbeat), so a slow network never lets another sender take a row
  that is still being sent.
- "Sent" (and every other outcome) is recorded only while the claim is still this sender's (the token matches),
  and recording is retried while the database is unreachable, so a database restart just after the network took
  the message does not leave the row to be sent again.
The one window left: a process that dies between the network accepting a message and the record of it; the row
is sent again after the lease, so at most one duplicate per killed sender.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bot import metrics
from bot.channels import network_channel_names
from bot.channels.base import SendError
from bot.core import Core
from bot.domain import alerts
from bot.domain.escalation import escalate_round
from bot.domain.media import run_fetcher
from bot.domain.privacy import purge_logs
from bot.domain.reply_window import release_opened
from bot.domain.routing_data import load_routing
from bot.domain.verdict import close_round
from bot.errors import is_transient
from bot.models import Notification, utcnow
from bot.storage import outbox as rows
from bot.storage import reachability
from handlers.messages import Option

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (10, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
PURGE_EVERY_SECONDS = 3600.0
ESCALATE_EVERY_SECONDS = 60.0  # due times are days apart: a minute late is on time
HEARTBEATS_PER_LEASE = 3  # the lease is extended this often while a send runs
RECORD_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)  # waits between tries to record an outcome (the last repeats)
RECORD_PATIENCE_SECONDS = 900.0  # how long an outcome is retried before the sender gives up on recording it


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1])


async def _claim_one(core: Core, now: dt.datetime) -> tuple[Notification, str] | None:
    """Take the most overdue row for this sender, with a token of its own; None when nothing is due."""
    lease = dt.timedelta(seconds=core.settings.outbox_lease_seconds)
    for _ in range(3):  # another sender may take the row between the look and the claim: look again
        async with core.db.session() as session:
            notification_id = await rows.most_overdue(session, now)
        if notification_id is None:
            return None
        token = uuid.uuid4().hex
        async with core.db.session() as session, session.begin():
            row = await rows.claim(session, notification_id, token, now, lease)
        if row is not None:
            return row, token
    return None


async def _under_claim(core: Core, notification_id: int, token: str, **values: Any) -> bool:
    """Change the row if the claim is still `token`'s; False when another sender has taken it over."""
    async with core.db.session() as session, session.begin():
        return await rows.change_under_claim(session, notification_id, token, **values)


async def _record(core: Core, notification_id: int, token: str, **values: Any) -> None:
    """Record a send's outcome under the claim, retried while the database is unreachable (a restart just after
    the network took the message must not leave the row to be sent again)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + RECORD_PATIENCE_SECONDS
    for attempt in range(10_000):
        try:
            if not await _under_claim(core, notification_id, token, locked_until=None, claim_token=None, **values):
                log.error("notification %s: its claim was taken over before the outcome was recorded", notification_id)
            return
        except Exception as exc:
            if not is_transient(exc) or loop.time() >= give_up:
                log.error("notification %s: outcome not recorded (%s); it may be sent again", notification_id, exc)
                return
            wait = RECORD_RETRY_SECONDS[min(attempt, len(RECORD_RETRY_SECONDS) - 1)]
            log.warning("notification %s: recording the outcome failed (%s); retrying", notification_id, exc)
            await asyncio.sleep(wait)


async def _while_sending(core: Core, notification_id: int, token: str, send: Callable[[], Awaitable[Any]]) -> Any:
    """Run `send`, extending the claim's lease while it runs, so a slow network never lets another sender in."""
    lease = core.settings.outbox_lease_seconds

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(lease / HEARTBEATS_PER_LEASE)
            try:
                extended = utcnow() + dt.timedelta(seconds=lease)
                if not await _under_claim(core, notification_id, token, locked_until=extended):
                    log.error("notification %s: claim lost while sending", notification_id)
                    return
            except Exception as exc:  # the lease still runs; try again at the next beat
                log.warning("notification %s: lease not extended (%s)", notification_id, type(exc).__name__)

    beat = asyncio.create_task(heartbeat(), name=f"outbox-heartbeat-{notification_id}")
    try:
        return await send()
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)


async def deliver_due(core: Core, now: dt.datetime | None = None, limit: int = 50) -> int:
    """Send what is due, one claimed row at a time (`now`: the time to act as if it were, for tests); returns how
    many were sent."""
    sent = 0
    for _ in range(limit):
        moment = now or utcnow()  # each claim's lease runs from when it is taken
        await release_opened(core.db, moment)  # a held staff reply whose citizen wrote again (reply_window.py)
        claimed = await _claim_one(core, moment)
        if claimed is None:
            break
        notification, token = claimed
        assert notification.id is not None
        sent += await _deliver(core, notification, token, moment)
    return sent


async def _deliver(core: Core, notification: Notification, token: str, now: dt.datetime) -> int:
    """Send one claimed row and record how it went; 1 when it was sent."""
    assert notification.id is not None
    channel = core.channels.get(notification.channel)
    if channel is None and notification.channel not in network_channel_names():
        await _record(core, notification.id, token, status="failed", last_error="channel cannot message users first")
        return 0
    try:
        if channel is None:
            raise SendError(f"channel {notification.channel} is not configured in this process")
        options = [Option(o["label"], o["payload"]) for o in notification.options]
        result = await _while_sending(
            core,
            notification.id,
            token,
            lambda: channel.send(notification.user_id, notification.text, options),  # type: ignore[union-attr]
        )
    except Exception as exc:  # a channel bug must not stop the other notifications
        retryable = exc.retryable if isinstance(exc, SendError) else True
        error = f"{type(exc).__name__}: {exc}"[:500]
        if isinstance(exc, SendError) and exc.unreachable:  # blocked: shown to staff, and never retried
            retryable = False
            await _mark_unreachable(core, notification, str(exc))
        if retryable and notification.attempts < MAX_ATTEMPTS:
            retry_at = now + backoff(notification.attempts)
            metrics.send_finished(notification.channel, "retry")
            await _record(core, notification.id, token, status="pending", next_attempt_at=retry_at, last_error=error)
            log.warning(
                "notification %s: attempt %s failed, retry at %s: %s",
                notification.id,
                notification.attempts,
                retry_at.isoformat(),
                type(exc).__name__,
            )
        else:
            metrics.send_finished(notification.channel, "failed")
            await _record(core, notification.id, token, status="failed", last_error=error)
            log.error("notification %s failed for good: %s", notification.id, type(exc).__name__)
        return 0
    metrics.send_finished(notification.channel, "sent")
    await _record(
        core, notification.id, token, status="sent", sent_at=utcnow(), external_id=result.external_id, last_error=None
    )
    return 1


async def _mark_unreachable(core: Core, notification: Notification, reason: str) -> None:
    """Since now (the clock the citizen's next message is compared with), whatever time the sender acts as."""
    try:
        async with core.db.session() as session, session.begin():
            await reachability.mark(session, notification.channel, notification.user_id, reason, utcnow())
    except Exception as exc:  # the notification's own outcome is recorded regardless
        log.warning("notification %s: could not mark the citizen unreachable (%s)", notification.id, exc)


async def outbox_depth(core: Core) -> tuple[dict[str, int], float]:
    """How many notifications wait (by status), and how old the oldest waiting one is, in seconds."""
    async with core.db.session() as session:
        found = await rows.waiting(session)
    depth = {str(status): int(count) for status, count, _ in found}
    oldest = min((created for _, _, created in found if created is not None), default=None)
    if oldest is not None and oldest.tzinfo is None:  # SQLite hands back naive times from an aggregate
        oldest = oldest.replace(tzinfo=dt.UTC)
    return depth, (utcnow() - oldest).total_seconds() if oldest is not None else 0.0


async def purge_due(core: Core) -> int:
    """Delete message logs older than MESSAGE_LOG_DAYS (privacy: keep no more than needed)."""
    async with core.db.session() as session, session.begin():
        return await purge_logs(session, core.settings.message_log_days)


async def run_sender(core: Core, stop: asyncio.Event, interval: float) -> None:
    """Deliver due notifications and fetch citizens' files every `interval` seconds until `stop` is set; make staff
    alerts of new events each round; every minute escalate overdue complaints, send the daily digests
    (bot/domain/escalation.py, alerts.py) and close resolved complaints the citizen left unanswered
    (bot/domain/verdict.py); purge old logs hourly."""
    # Files citizens sent in conversations (bot/domain/media.py), fetched beside the sending, never in its way.
    fetcher = asyncio.create_task(run_fetcher(core, stop, interval), name="media-fetcher")
    try:
        await _send_rounds(core, stop, interval)
    finally:
        if not stop.is_set():  # cancelled rather than stopped: a file being fetched is taken over after its lease
            fetcher.cancel()
        await asyncio.gather(fetcher, return_exceptions=True)  # with `stop`, it ends after its current file


async def _send_rounds(core: Core, stop: asyncio.Event, interval: float) -> None:
    next_purge = next_escalation = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            await deliver_due(core)
            await alerts.alert_round(core)
            if loop.time() >= next_escalation:
                routing = load_routing(core.settings.knowledge_dir)
                await escalate_round(core.db, routing, on_step=alerts.escalation_alerts(core))
                await alerts.digest_round(core)
                await close_round(core.db, core.settings.verdict_days)  # resolved, unanswered for VERDICT_DAYS
                next_escalation = loop.time() + ESCALATE_EVERY_SECONDS
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
