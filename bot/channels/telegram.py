"""Telegram channel: a python-telegram-bot v22 Application connected to the core.

Webhook mode (production): Telegram POSTs each update to /telegram/webhook. The secret header is checked in
constant time, the dispatcher handles the update inside the request (one short database transaction that also
claims `u<update_id>`, so a redelivery is answered 200 and not processed again; a transient database failure
answers 503 so Telegram redelivers, and an update that fails otherwise is kept by the core as a dead letter and
answered with an apology), and the Bot API calls (replies, answering button presses) run in a background task.

Polling mode (local development): the Application's Updater pulls updates with getUpdates, so `sahulat run`
needs no public address.

Nothing Telegram-specific leaves this module: updates become handlers.messages.Incoming, and the Outcome's
replies become HTML messages (every value escaped) with inline keyboards.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import html
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import (
    Bot,
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.channels.base import Channel, SendError, Sent
from bot.channels.telegram_http import AiohttpRequest
from bot.errors import is_transient
from bot.outbox import queue_replies
from bot.settings import Settings
from handlers.messages import Incoming, Location, Media, Option, Outcome, Reply
from knowledge.texts import Texts

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query")
MAX_TEXT = 4096  # Telegram's limit per message, counted in UTF-16 code units after entity parsing
MAX_CALLBACK_BYTES = 64
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as a webhook secret_token
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # source lines may hold links; previews would bury the answer
STOP_GRACE_SECONDS = 10.0  # how long stop() lets in-flight replies finish before cancelling them
# Telegram takes about 30 messages a second from a bot. Past this many deliveries waiting in this process (some
# ten seconds of Telegram's pace), further replies are stored in the outbox by the message's own commit, for the
# sender: memory stays bounded, nothing is lost if the process dies, and thousands of rate-limited waiters do not
# eat the CPU.
MAX_PENDING_DELIVERIES = 300
POLLING_DB_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
# A redelivered update whose replies were not all sent waits this long before sending the rest: the process that
# handled it may still be sending them (well under this, as a rule).
REDELIVERY_GRACE_SECONDS = 5.0  # polling cannot ask Telegram to redeliver, so it waits instead

# The client's command menu; descriptions are the texts `command_<name>` (English, and Urdu for Urdu clients).
# The dispatcher understands each one typed as text.
COMMANDS: tuple[str, ...] = (
    "start",
    "menu",
    "fees",
    "parks",
    "programmes",
    "complain",
    "status",
    "language",
    "help",
    "cancel",
)


# --- configuration -----------------------------------------------------------------------------------------------


def status_line(settings: Settings) -> str:
    """One line for `sahulat run`: on and in which mode, or off and why."""
    mode = settings.resolved_telegram_mode()
    if mode == "off":
        why = "TELEGRAM_BOT_TOKEN not set" if not settings.telegram_bot_token else "TELEGRAM_MODE=off"
        return f"Telegram: off, {why}"
    if mode == "webhook" and not settings.telegram_webhook_secret:
        return "Telegram: off, TELEGRAM_WEBHOOK_SECRET not set (webhook mode needs it)"
    if mode == "webhook":
        where = f"{settings.public_url}{WEBHOOK_PATH}" if settings.public_url else WEBHOOK_PATH
        return f"Telegram: on (webhook mode, {where}; register it once with `sahulat telegram set-webhook`)"
    return "Telegram: on (polling mode)"


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


def file_base_url(api_base_url: str) -> str:
    """The file-download base for an API base: ".../bot" -> ".../file/bot" (PTB appends the token to both)."""
    root, _, last = api_base_url.rstrip("/").rpartition("/")
    return f"{root}/file/{last}"


def api_request(*, pool_size: int = 256) -> AiohttpRequest:
    """The Bot API client: bounded timeouts, on aiohttp (see bot.channels.telegram_http for why)."""
    return AiohttpRequest(connection_pool_size=pool_size, connect_timeout=10, read_timeout=15, pool_timeout=10)


def build_application(settings: Settings, *, polling: bool) -> Application:  # type: ignore[type-arg]
    """The PTB Application: our Bot API server, outbound rate limits, bounded timeouts; an Updater only to poll."""
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token or "")
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_base_url(settings.telegram_api_base_url))
        .rate_limiter(AIORateLimiter(max_retries=3))
        .request(api_request())
        .get_updates_request(api_request(pool_size=1))
    )
    if not polling:
        builder = builder.updater(None)
    return builder.build()


# --- translating updates and replies -----------------------------------------------------------------------------


T = TypeVar("T")


class MalformedUpdate(ValueError):
    """An update whose fields are missing or of the wrong type."""


def _field(data: Mapping[str, Any], key: str, kind: type[T]) -> T | None:
    """An optional field of the Bot API's JSON: None when absent, MalformedUpdate when of another type."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedUpdate(f"{key} is not {kind.__name__}")
    return value


def _need(data: Mapping[str, Any], key: str, kind: type[T]) -> T:
    """A field the Bot API always sends."""
    value = _field(data, key, kind)
    if value is None:
        raise MalformedUpdate(f"{key} is missing")
    return value


def _user(data: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """(display name, language code) of a Bot API User object, as PTB's User.full_name has it."""
    if data is None:
        return None, None
    first = _field(data, "first_name", str) or ""
    last = _field(data, "last_name", str)
    return (f"{first} {last}" if last else first) or None, _field(data, "language_code", str)


def _chat(message: Mapping[str, Any]) -> tuple[int, str]:
    chat = _need(message, "chat", dict)
    return _need(chat, "id", int), _need(chat, "type", str)


def to_incoming(update: Mapping[str, Any]) -> Incoming | None:
    """The core's view of an update (the Bot API's JSON), or None for kinds the bot does not handle (groups,
    edits, polls, ...); MalformedUpdate when a field it reads is missing or of the wrong type.

    Read from the JSON rather than from PTB's Update: building an Update (every Message attribute set through a
    checked __setattr__) was a third of a webhook's CPU, and the core needs a dozen fields. Polling passes
    `Update.to_dict()`.
    """
    update_id = _need(update, "update_id", int)
    message_id = f"u{update_id}"
    query = _field(update, "callback_query", dict)
    if query is not None:
        sender = _need(query, "from", dict)
        name, language = _user(sender)
        pressed = _field(query, "message", dict)
        chat_id, chat_type = _chat(pressed) if pressed is not None else (_need(sender, "id", int), None)
        data = _field(query, "data", str)
        if (chat_type is not None and chat_type != ChatType.PRIVATE) or not data:
            return None
        # A bare number stands for an option whose payload was too long for callback data (see keyboard()).
        text, payload = (data, None) if data.isascii() and data.isdigit() else ("", data)
        return Incoming(
            channel=CHANNEL,
            user_id=str(chat_id),
            text=text,
            payload=payload,
            display_name=name,
            language_hint=language,
            message_id=message_id,
            can_attach=True,
        )
    message = _field(update, "message", dict)
    if message is None:
        return None
    chat_id, chat_type = _chat(message)
    if chat_type != ChatType.PRIVATE:
        return None
    name, language = _user(_field(message, "from", dict))
    media: list[Media] = []
    photos = _field(message, "photo", list)
    if photos:
        largest = photos[-1]
        if not isinstance(largest, dict):
            raise MalformedUpdate("photo is not a list of PhotoSize")
        media.append(Media(kind="photo", ref=_need(largest, "file_id", str), content_type="image/jpeg"))
    document = _field(message, "document", dict)
    if document is not None:
        ref = _need(document, "file_id", str)
        media.append(Media(kind="document", ref=ref, content_type=_field(document, "mime_type", str)))
    location = _field(message, "location", dict)
    place = None
    if location is not None:
        latitude, longitude = location.get("latitude"), location.get("longitude")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (latitude, longitude)):
            raise MalformedUpdate("location needs latitude and longitude")
        place = Location(latitude=float(latitude), longitude=float(longitude))  # type: ignore[arg-type]
    return Incoming(
        channel=CHANNEL,
        user_id=str(chat_id),
        text=_field(message, "text", str) or _field(message, "caption", str) or "",
        display_name=name,
        language_hint=language,
        message_id=message_id,
        media=tuple(media),
        location=place,
        can_attach=True,
    )


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def _hard_cut(text: str, limit: int) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        width = utf16_len(char)
        if size + width > limit:
            parts.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current:
        parts.append("".join(current))
    return parts


def split_text(text: str, limit: int = MAX_TEXT, separators: Sequence[str] = ("\n\n", "\n", " ")) -> list[str]:
    """Pieces of at most `limit`, cut at paragraph boundaries first, then lines, then words, then anywhere."""
    if utf16_len(text) <= limit:
        return [text] if text.strip() else []
    if not separators:
        return _hard_cut(text, limit)
    sep, finer = separators[0], separators[1:]
    parts: list[str] = []
    current = ""
    for piece in text.split(sep):
        candidate = f"{current}{sep}{piece}" if current else piece
        if utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            parts.append(current)
        if utf16_len(piece) <= limit:
            current = piece
        else:
            *whole, current = split_text(piece, limit, finer) or [""]
            parts.extend(whole)
    if current.strip():
        parts.append(current)
    return parts


def callback_data(option: Option, number: int) -> str:
    """The option's payload when Telegram can carry it (1-64 bytes), else its number among the offered options."""
    size = len(option.payload.encode("utf-8"))
    return option.payload if 0 < size <= MAX_CALLBACK_BYTES else str(number)


def keyboard(options: Sequence[Option]) -> InlineKeyboardMarkup | None:
    """One button per row: labels can be long, and Urdu ones read better on their own line."""
    if not options:
        return None
    rows = [[InlineKeyboardButton(o.label, callback_data=callback_data(o, i))] for i, o in enumerate(options, 1)]
    return InlineKeyboardMarkup(rows)


def render_reply(reply: Reply) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    """A reply as Telegram messages: HTML-escaped parts within the limit, the keyboard on the last."""
    parts = split_text(reply.text) or (["…"] if reply.options else [])
    escaped = [html.escape(part, quote=False) for part in parts]
    return [(text, keyboard(reply.options) if i == len(escaped) - 1 else None) for i, text in enumerate(escaped)]


def is_retryable(exc: TelegramError) -> bool:
    """Network trouble, timeouts and flood control may pass; a blocked bot or a bad request will not."""
    if isinstance(exc, (Forbidden, BadRequest, ChatMigrated, InvalidToken)):
        return False
    return isinstance(exc, (RetryAfter, NetworkError))


class DownloadError(Exception):
    """A file a user sent could not be fetched from Telegram."""


# --- the channel -------------------------------------------------------------------------------------------------


@dataclass
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class TelegramChannel(Channel):
    name = CHANNEL

    def __init__(self, core: Core, *, mode: str) -> None:
        super().__init__(core)
        self.settings = core.settings
        self.mode = mode
        self.application = build_application(self.settings, polling=mode == "polling")
        self.bot: Bot = self.application.bot
        self._tasks: set[asyncio.Task[None]] = set()
        self.max_pending_deliveries = MAX_PENDING_DELIVERIES
        self._turns: dict[int, _Turn] = {}
        self._delivering: set[int] = set()  # updates whose replies this process is sending now
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
            if update_id not in self._delivering:
                self._spawn(self._deliver_rest(update_id, incoming), f"telegram-redeliver-{update_id}")
            return Response(status_code=200)
        self._spawn(self._deliver(update_id, incoming, query, outcome), f"telegram-deliver-{update_id}")
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
            await self._deliver(update_id, incoming, None, outcome)

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
            await self._deliver(update.update_id, incoming, query, outcome)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("update %s: %s", update_id, context.error, exc_info=context.error)

    # outbound

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @asynccontextmanager
    async def _turn(self, chat_id: int) -> AsyncIterator[None]:
        """One chat's messages go out in the order their updates arrived (asyncio.Lock is first come, first served)."""
        turn = self._turns.setdefault(chat_id, _Turn())
        turn.users += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.users -= 1
            if turn.users == 0:
                self._turns.pop(chat_id, None)

    async def _api(self, update_id: int | None, what: str, call: Callable[[], Awaitable[object]]) -> bool | None:
        """One Bot API call: True if sent, False if it failed, None if it timed out (it may have arrived).

        Failures are logged with the update id, never raised (the core's work is saved).
        """
        for attempt in (1, 2):
            try:
                await call()
                return True
            except TimedOut as exc:  # it may have arrived: sending again could duplicate it
                log.warning("update %s: %s timed out: %s", update_id, what, exc)
                return None
            except RetryAfter as exc:
                log.warning("update %s: %s still rate limited after retries: %s", update_id, what, exc)
            except (Forbidden, BadRequest, ChatMigrated, InvalidToken) as exc:
                log.warning("update %s: %s refused: %s", update_id, what, exc)
            except NetworkError as exc:
                if attempt == 1:
                    log.info("update %s: %s failed (%s); retrying once", update_id, what, exc)
                    await asyncio.sleep(1.0)
                    continue
                log.warning("update %s: %s failed: %s", update_id, what, exc)
            except TelegramError as exc:
                log.warning("update %s: %s failed: %s", update_id, what, exc)
            except Exception:
                log.exception("update %s: %s failed unexpectedly", update_id, what)
            return False
        return False

    async def _deliver(self, update_id: int, incoming: Incoming, query: CallbackQuery | None, outcome: Outcome) -> None:
        """Answer the pressed button, mark the choice on its message, then send the replies in order (those not
        sent yet, for a redelivery), recording each one sent so a later redelivery sends none twice."""
        chat_id = int(incoming.user_id)
        self._delivering.add(update_id)
        try:
            await self._deliver_in_turn(update_id, chat_id, incoming, query, outcome)
        finally:
            self._delivering.discard(update_id)

    async def _deliver_in_turn(
        self, update_id: int, chat_id: int, incoming: Incoming, query: CallbackQuery | None, outcome: Outcome
    ) -> None:
        async with self._turn(chat_id):
            if query is not None:
                await self._api(update_id, "answerCallbackQuery", lambda: self.bot.answer_callback_query(query.id))
                await self._mark_choice(update_id, query)
            for index, reply in enumerate(outcome.replies):
                if index < outcome.delivered:
                    continue
                for text, markup in render_reply(reply):
                    sent = await self._api(
                        update_id,
                        "sendMessage",
                        lambda text=text, markup=markup: self.bot.send_message(  # type: ignore[misc]
                            chat_id,
                            text,
                            parse_mode=ParseMode.HTML,
                            reply_markup=markup,
                            link_preview_options=NO_PREVIEW,
                        ),
                    )
                    if sent is False:  # Telegram is down: the rest waits in the outbox, nothing is lost
                        await self._keep(update_id, str(chat_id), outcome, outcome.replies[index:])
                        await self._sent(update_id, incoming, len(outcome.replies))
                        return
                await self._sent(update_id, incoming, index + 1)

    async def _sent(self, update_id: int, incoming: Incoming, count: int) -> None:
        try:
            await self.core.dispatcher.replies_delivered(incoming, count)
        except Exception as exc:  # it went out; a redelivery may send it again, which is the lesser harm
            log.warning("update %s: could not record the replies sent (%s)", update_id, type(exc).__name__)

    async def _keep(self, update_id: int, user_id: str, outcome: Outcome, replies: Sequence[Reply]) -> None:
        try:
            await queue_replies(self.core, CHANNEL, user_id, outcome.language, list(replies))
            log.info("update %s: %d replies queued for the sender", update_id, len(replies))
        except Exception:
            log.exception("update %s: replies could not be queued", update_id)

    async def _mark_choice(self, update_id: int, query: CallbackQuery) -> None:
        """Edit the pressed message: drop its keyboard (no stale presses) and show what was chosen."""
        message = query.message
        if not isinstance(message, Message) or message.text is None:
            return
        buttons = message.reply_markup.inline_keyboard if message.reply_markup else ()
        label = next((b.text for row in buttons for b in row if b.callback_data == query.data), None)
        text = message.text_html + (f"\n\n» {html.escape(label, quote=False)}" if label else "")
        await self._api(
            update_id,
            "editMessageText",
            lambda: self.bot.edit_message_text(
                text,
                chat_id=message.chat.id,
                message_id=message.message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
            ),
        )

    async def send(self, user_id: str, text: str, options: Sequence[Option] = ()) -> Sent:
        """A notification (e.g. a complaint's new status), as plain escaped text; long ones go in parts."""
        try:
            chat_id = int(user_id)
        except ValueError:
            raise SendError(f"not a Telegram chat id: {user_id!r}", retryable=False) from None
        parts = split_text(text)
        if not parts:
            raise SendError("empty message", retryable=False)
        first: Message | None = None
        async with self._turn(chat_id):
            for number, part in enumerate(parts, start=1):
                try:
                    message = await self.bot.send_message(
                        chat_id,
                        html.escape(part, quote=False),
                        parse_mode=ParseMode.HTML,
                        reply_markup=keyboard(options) if number == len(parts) else None,
                        link_preview_options=NO_PREVIEW,
                    )
                except TelegramError as exc:
                    log.warning("send to chat %s failed: %s: %s", chat_id, type(exc).__name__, exc)
                    raise SendError(f"Telegram: {type(exc).__name__}: {exc}", retryable=is_retryable(exc)) from exc
                first = first or message
        assert first is not None
        return Sent(external_id=str(first.message_id))

    async def download(self, ref: str) -> bytes:
        """The bytes of a photo or document a user sent (Media.ref is its file id), e.g. complaint evidence."""
        try:
            file = await self.bot.get_file(ref)
            return bytes(await file.download_as_bytearray())
        except TelegramError as exc:
            raise DownloadError(f"Telegram: {type(exc).__name__}: {exc}") from exc


# --- `sahulat telegram ...` --------------------------------------------------------------------------------------


async def register_commands(bot: Bot, texts: Texts) -> None:
    """The command list the client shows in its menu, in English and (for Urdu clients) Urdu.

    Telegram picks the list by the client's language code, and there is none for Roman Urdu, so it has no list of
    its own: Roman Urdu users, whose clients are set to English or Urdu, see that language's list."""
    await bot.set_my_commands([BotCommand(name, texts(f"command_{name}", "en")) for name in COMMANDS])
    await bot.set_my_commands(
        [BotCommand(name, texts(f"command_{name}", "ur")) for name in COMMANDS], language_code="ur"
    )


def _fail(message: str) -> int:
    print(f"sahulat: error: {message}", file=sys.stderr)
    return 1


def _bot(settings: Settings) -> Bot:
    return Bot(
        settings.telegram_bot_token or "",
        base_url=settings.telegram_api_base_url,
        base_file_url=file_base_url(settings.telegram_api_base_url),
        request=api_request(pool_size=1),
    )


async def _call_api(settings: Settings, action: Callable[[Bot], Awaitable[None]]) -> str | None:
    """Run `action` with a connected Bot; the error message on failure, else None."""
    try:
        async with _bot(settings) as bot:
            await action(bot)
    except InvalidToken:
        return "Telegram rejected TELEGRAM_BOT_TOKEN"
    except TelegramError as exc:
        return f"Telegram API call failed: {type(exc).__name__}: {exc}"
    return None


def cmd_set_webhook(args: argparse.Namespace, settings: Settings) -> int:
    missing = [
        name
        for name, value in (
            ("TELEGRAM_BOT_TOKEN", settings.telegram_bot_token),
            ("PUBLIC_URL", settings.public_url),
            ("TELEGRAM_WEBHOOK_SECRET", settings.telegram_webhook_secret),
        )
        if not value
    ]
    if missing:
        return _fail(f"{', '.join(missing)} not set")
    secret = settings.telegram_webhook_secret or ""
    if not SECRET_PATTERN.match(secret):
        return _fail("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
    url = f"{settings.public_url}{WEBHOOK_PATH}"
    if not url.startswith("https://"):
        print(f"warning: {url} is not https; Telegram's own servers only call https webhooks", file=sys.stderr)

    from bot.core import load_kb

    texts = load_kb(settings)[0].texts

    async def action(bot: Bot) -> None:
        await bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=args.drop_pending_updates,
        )
        await register_commands(bot, texts)

    error = asyncio.run(_call_api(settings, action))
    if error:
        return _fail(error)
    print(f"webhook set: {url} (updates: {', '.join(ALLOWED_UPDATES)}); command menu registered")
    return 0


def cmd_delete_webhook(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.telegram_bot_token:
        return _fail("TELEGRAM_BOT_TOKEN not set")

    async def action(bot: Bot) -> None:
        await bot.delete_webhook(drop_pending_updates=args.drop_pending_updates)

    error = asyncio.run(_call_api(settings, action))
    if error:
        return _fail(error)
    print("webhook deleted")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`sahulat telegram set-webhook | delete-webhook`: run once per deploy, not on every worker start."""
    parser = subparsers.add_parser(
        "telegram", help="Telegram webhook administration", description="Telegram webhook administration."
    )
    sub = parser.add_subparsers(dest="telegram_command", metavar="ACTION", required=True)
    drop_help = "discard updates Telegram is still holding for the bot"
    set_ = sub.add_parser(
        "set-webhook",
        help="register PUBLIC_URL/telegram/webhook with Telegram",
        description=f"Register PUBLIC_URL{WEBHOOK_PATH} as the bot's webhook, with TELEGRAM_WEBHOOK_SECRET as its "
        f"secret token and the update kinds the bot handles ({', '.join(ALLOWED_UPDATES)}), and register the "
        "command menu. Run once per deploy (e.g. in the release step). Exits 1 if TELEGRAM_BOT_TOKEN, PUBLIC_URL "
        "or TELEGRAM_WEBHOOK_SECRET is missing or Telegram refuses.",
    )
    set_.add_argument("--drop-pending-updates", action="store_true", help=drop_help)
    set_.set_defaults(func=cmd_set_webhook)
    delete = sub.add_parser(
        "delete-webhook",
        help="remove the bot's webhook (e.g. before polling)",
        description="Remove the bot's webhook, so it can poll (TELEGRAM_MODE=polling). Exits 1 if "
        "TELEGRAM_BOT_TOKEN is missing or Telegram refuses.",
    )
    delete.add_argument("--drop-pending-updates", action="store_true", help=drop_help)
    delete.set_defaults(func=cmd_delete_webhook)
