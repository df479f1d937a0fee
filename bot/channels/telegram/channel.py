"""The Telegram channel: the webhook route (webhook mode) or the Updater (polling mode) feeding updates to the
core, and the lifecycle around them; replies go out through delivery.Delivery, off the request."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import Bot, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import ContextTypes, TypeHandler

from bot.channels.base import Channel, Fetched, MediaError, Sent
from bot.channels.media_http import fetch
from bot.channels.telegram.client import build_application, file_base_url, register_commands
from bot.channels.telegram.config import ALLOWED_UPDATES, CHANNEL, SECRET_HEADER, WEBHOOK_PATH
from bot.channels.telegram.delivery import Delivery, is_retryable
from bot.channels.telegram.parse import MalformedUpdate, to_incoming
from bot.errors import is_transient
from handlers.messages import Incoming, Option, Outcome

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0  # how long stop() lets in-flight replies finish before cancelling them
# Telegram takes about 30 messages a second from a bot. Past this many deliveries waiting in this process (some
# ten seconds of Telegram's pace), further replies are stored in the outbox by the message's own commit, for the
# sender: memory stays bounded, nothing is lost if the process dies, and thousands of rate-limited waiters do not
# eat the CPU.
MAX_PENDING_DELIVERIES = 300
POLLING_DB_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)  # polling cannot ask Telegram to redeliver, so it waits instead
# A redelivered update whose replies were not all sent waits this long before sending the rest: the process that
# handled it may still be sending them (well under this, as a rule).
REDELIVERY_GRACE_SECONDS = 5.0


def create(core: Core) -> TelegramChannel | None:
    """The channel, or None when Telegram is not configured (no token, TELEGRAM_MODE=off, or no webhook secret)."""
    settings = core.settings
    mode = settings.resolved_telegram_mode()
    if mode == "off":
        return None
    if mode == "webhook" and not settings.telegram_webhook_secret:
        log.error("Telegram webhook mode needs TELEGRAM_WEBHOOK_SECRET; Telegram is off")
        return None
    return TelegramChannel(core, mode=mode)


class TelegramChannel(Channel):
    name = CHANNEL

    def __init__(self, core: Core, *, mode: str) -> None:
        super().__init__(core)
        self.settings = core.settings
        self.mode = mode
        self.application = build_application(self.settings, polling=mode == "polling")
        self.bot: Bot = self.application.bot
        self.delivery = Delivery(core, self.bot)
        self._tasks: set[asyncio.Task[None]] = set()
        self.max_pending_deliveries = MAX_PENDING_DELIVERIES
        self.redelivery_grace = REDELIVERY_GRACE_SECONDS
        self._secret = (self.settings.telegram_webhook_secret or "").encode()
        self._starter: asyncio.Task[None] | None = None

    def routes(self) -> list[BaseRoute]:
        return [Route(WEBHOOK_PATH, self.webhook, methods=["POST"])] if self.mode == "webhook" else []

    # lifecycle

    async def start(self, *, receive: bool = True) -> None:
        """Webhook mode connects now; polling connects (retrying while Telegram is unreachable) in the background."""
        if self.mode == "polling" and receive:
            self.application.add_handler(TypeHandler(Update, self._on_polled_update))
            self.application.add_error_handler(self._on_error)
            self._starter = asyncio.create_task(self._start_polling(), name="telegram-polling-start")
            return
        try:
            await self.application.initialize()
        except InvalidToken as exc:
            raise RuntimeError("Telegram rejected TELEGRAM_BOT_TOKEN; check it or set TELEGRAM_MODE=off") from exc
        except TelegramError as exc:  # sending still works once Telegram is back; getMe is only a check
            log.warning("Telegram unreachable at start (%s); continuing", type(exc).__name__)

    async def _start_polling(self) -> None:
        delay = 1.0
        while True:
            try:
                await self.application.initialize()
                break
            except InvalidToken:
                log.error("Telegram rejected TELEGRAM_BOT_TOKEN; polling not started")
                return
            except TelegramError as exc:
                log.warning("Telegram unreachable (%s); retrying in %.0f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
        try:
            await register_commands(self.bot, self.core.kb.texts)
        except TelegramError as exc:
            log.warning("could not register the command menu: %s", exc)
        updater = self.application.updater
        assert updater is not None  # built with one in polling mode
        await updater.start_polling(allowed_updates=list(ALLOWED_UPDATES), bootstrap_retries=-1)
        await self.application.start()
        log.info("Telegram polling started as @%s", self.bot.username)

    async def stop(self) -> None:
        """Stop taking updates, let in-flight replies finish (bounded), then close the HTTP clients."""
        if self._starter is not None and not self._starter.done():
            self._starter.cancel()
            await asyncio.gather(self._starter, return_exceptions=True)
        updater = self.application.updater
        try:
            if updater is not None and updater.running:
                await updater.stop()
            if self.application.running:
                await self.application.stop()
        except Exception:  # shutting down must not fail the app's shutdown
            log.exception("error while stopping Telegram polling")
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            await self.application.shutdown()
            await self.bot.shutdown()
        except Exception:
            log.exception("error while closing the Telegram client")

    # inbound: webhook

    def _secret_ok(self, given: str | None) -> bool:
        return bool(self._secret) and given is not None and hmac.compare_digest(given.encode(), self._secret)

    async def _read_body(self, request: Request) -> bytes | None:
        """The body, or None when it is over the limit (checked as it streams in, not only by Content-Length)."""
        limit = self.settings.max_webhook_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return None
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)

    async def webhook(self, request: Request) -> Response:
        """POST /telegram/webhook: check, claim and handle the update; reply to the user off the request."""
        if not self._secret_ok(request.headers.get(SECRET_HEADER)):
            log.warning("Telegram webhook: wrong or missing secret token from %s", request.client)
            return PlainTextResponse("forbidden", status_code=403)
        body = await self._read_body(request)
        if body is None:
            return PlainTextResponse("body too large", status_code=413)
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
            update_id: int = data["update_id"]
            incoming = to_incoming(data)
            # PTB's CallbackQuery is needed to answer a pressed button and mark the choice; messages need no more.
            query = Update.de_json(data, self.bot).callback_query if incoming and "callback_query" in data else None
        except Exception as exc:  # malformed input is the sender's problem: say so, no traceback
            log.warning("Telegram webhook: malformed update (%s)", type(exc).__name__)
            return PlainTextResponse("malformed update", status_code=400)
        if incoming is None:
            log.debug("update %s: kind not handled; ignored", update_id)
            return Response(status_code=200)
        if len(self._tasks) >= self.max_pending_deliveries:  # a backlog: the replies wait in the outbox instead
            incoming = replace(incoming, reply_later=True)
        try:
            # A failure other than a transient one comes back as the core's apology, the update kept as a dead letter.
            outcome = await self.core.dispatcher.handle(incoming, payload=body.decode("utf-8", "replace"))
        except Exception as exc:
            if is_transient(exc):
                log.warning("update %s: database unavailable (%s); Telegram will redeliver", update_id, exc)
                return PlainTextResponse("database unavailable", status_code=503, headers={"Retry-After": "5"})
            # Not even the dead letter could be kept: redelivering would fail the same way and hold up later updates.
            log.exception("update %s: handling failed and the update could not be kept; update dropped", update_id)
            return Response(status_code=200)
        if incoming.reply_later or (outcome.duplicate and outcome.delivered >= len(outcome.replies)):
            return Response(status_code=200)
        if outcome.duplicate:  # handled before, its replies not all sent: the rest, unless someone is sending them
            if not self.delivery.delivering(update_id):
                self._spawn(self._deliver_rest(update_id, incoming), f"telegram-redeliver-{update_id}")
            return Response(status_code=200)
        self._spawn(self.delivery.deliver(update_id, incoming, query, outcome), f"telegram-deliver-{update_id}")
        return Response(status_code=200)

    async def _deliver_rest(self, update_id: int, incoming: Incoming) -> None:
        """A redelivered update whose replies were not all sent: after a grace period (the process that handled it
        may be sending them right now: Telegram delivers the same update to two processes at once), send those
        still not sent (that process died after committing, say)."""
        await asyncio.sleep(self.redelivery_grace)
        try:
            outcome = await self.core.dispatcher.stored_replies(incoming)
        except Exception as exc:
            log.warning("update %s: stored replies unavailable (%s)", update_id, type(exc).__name__)
            return
        if outcome.delivered < len(outcome.replies):
            await self.delivery.deliver(update_id, incoming, None, outcome)

    # inbound: polling

    async def _on_polled_update(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Polling cannot ask for a redelivery, so a database outage is waited out (bounded) here."""
        if not isinstance(update, Update):
            return
        try:
            incoming = to_incoming(update.to_dict())
        except MalformedUpdate as exc:
            log.warning("update %s: malformed (%s); ignored", update.update_id, exc)
            return
        if incoming is None:
            return
        outcome: Outcome | None = None
        payload = json.dumps(update.to_dict(), ensure_ascii=False)
        for delay in (*POLLING_DB_RETRY_DELAYS, None):
            try:
                outcome = await self.core.dispatcher.handle(incoming, payload=payload)
                break
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("update %s: handling failed and the update could not be kept", update.update_id)
                    return
                if delay is None:
                    log.error("update %s: database unavailable (%s); update dropped", update.update_id, exc)
                    return
                log.warning("update %s: database unavailable (%s); retrying", update.update_id, exc)
                await asyncio.sleep(delay)
        if outcome is not None and outcome.delivered < len(outcome.replies):
            query = None if outcome.duplicate else update.callback_query
            await self.delivery.deliver(update.update_id, incoming, query, outcome)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("update %s: %s", update_id, context.error, exc_info=context.error)

    # outbound

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, user_id: str, text: str, options: Sequence[Option] = ()) -> Sent:
        """A notification (e.g. a complaint's new status), as plain escaped text; long ones go in parts."""
        return await self.delivery.send(user_id, text, options)

    async def download(self, ref: str) -> bytes:
        """The bytes of a photo or document a user sent (Media.ref is its file id); DownloadError if it cannot."""
        return await self.delivery.download(ref)

    async def fetch_media(self, ref: str, max_bytes: int) -> Fetched:
        """getFile, then the file from the configured Bot API's file address (TELEGRAM_API_BASE_URL's host), never
        from anywhere else; a file Telegram reports as too large is refused without downloading it."""
        try:
            file = await self.bot.get_file(ref)
        except TelegramError as exc:
            raise MediaError(f"Telegram getFile: {type(exc).__name__}", refused=not is_retryable(exc)) from exc
        if file.file_size is not None and file.file_size > max_bytes:
            raise MediaError(f"too large: {file.file_size} bytes, over {max_bytes}", refused=True)
        if not file.file_path:  # Telegram gives no path for files bots may not download (over 20 MB)
            raise MediaError("Telegram gave no file to download", refused=True)
        allowed = file_base_url(self.settings.telegram_api_base_url)
        return await fetch(file.file_path, allowed=allowed, max_bytes=max_bytes)
