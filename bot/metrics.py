"""What operators watch, in Prometheus's format at `/metrics` (prometheus-client): messages by channel and intent,
how long handling takes, 5xx answers, notification sends by outcome, and the outbox's depth and oldest age.

Counters live in this process. Under several web workers set PROMETHEUS_MULTIPROC_DIR (prometheus-client's own
multi-process mode) to an empty folder shared by them, so one scrape sees them all.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MESSAGES = Counter("sahulat_messages_total", "Messages handled, by channel and what the bot did", ["channel", "intent"])
HANDLING = Histogram(
    "sahulat_message_handling_seconds",
    "Time to handle one message (its transaction included)",
    ["channel"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
ERRORS = Counter("sahulat_http_5xx_total", "Responses with a 5xx status, by status", ["status"])
SENDS = Counter(
    "sahulat_notification_sends_total", "Notification sends, by channel and outcome", ["channel", "outcome"]
)
MEDIA_FETCHES = Counter(
    "sahulat_media_fetches_total", "Fetches of files citizens sent, by channel and outcome", ["channel", "outcome"]
)
OUTBOX_DEPTH = Gauge("sahulat_outbox_depth", "Notifications waiting to be sent", ["status"], multiprocess_mode="max")
OUTBOX_OLDEST = Gauge(
    "sahulat_outbox_oldest_seconds", "Age of the oldest notification waiting to be sent", multiprocess_mode="max"
)


def message_handled(channel: str, intent: str, seconds: float) -> None:
    MESSAGES.labels(channel=channel, intent=intent).inc()
    HANDLING.labels(channel=channel).observe(seconds)


def send_finished(channel: str, outcome: str) -> None:
    """`outcome`: sent, retry or failed."""
    SENDS.labels(channel=channel, outcome=outcome).inc()


def media_fetched(channel: str, outcome: str) -> None:
    """`outcome`: stored, retry, failed or refused (bot/domain/media.py)."""
    MEDIA_FETCHES.labels(channel=channel, outcome=outcome).inc()


def outbox_seen(depth: dict[str, int], oldest_seconds: float) -> None:
    for status in ("pending", "sending"):
        OUTBOX_DEPTH.labels(status=status).set(depth.get(status, 0))
    OUTBOX_OLDEST.set(oldest_seconds)


def exposition() -> tuple[bytes, str]:
    """The metrics page: this process's, or every worker's when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class ServerErrors:
    """ASGI middleware counting the 5xx answers (a database outage's 503s included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 500:
                ERRORS.labels(status=str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting)


class Timer:
    """Seconds since it was made (a monotonic clock)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started
