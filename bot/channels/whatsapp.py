"""WhatsApp channel (Twilio): signed webhooks in, TwiML replies out, the REST API for notifications.

Twilio posts each incoming message to `POST /whatsapp/webhook` and each delivery update of a message we sent
to `POST /whatsapp/status`, both signed with the account's auth token (`X-Twilio-Signature`). Replies to a
message go back in the webhook's own response as TwiML; unprompted messages (notifications) go through the
REST API with the async client, free text inside WhatsApp's 24-hour window and an approved template outside it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlparse
from xml.sax.saxutils import escape

from aiohttp import ClientError
from sqlmodel import select
from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from twilio.base.exceptions import TwilioException
from twilio.http import AsyncHttpClient
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator, add_port, compare, remove_port
from twilio.rest import Client

from bot.channels.base import Channel, SendError, Sent
from bot.errors import is_transient
from bot.models import Notification, UserProfile, utcnow
from bot.settings import Settings
from handlers.messages import Incoming, Location, Media, Option, Outcome, Reply

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
WEBHOOK_PATH = "/whatsapp/webhook"
STATUS_PATH = "/whatsapp/status"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
SIGNATURE_HEADER = "x-twilio-signature"

MAX_BODY_CHARS = 1600  # Twilio refuses longer message bodies (error 21617)
MAX_MEDIA = 10  # WhatsApp delivers at most this many attachments per message
MAX_FORM_FIELDS = 200  # a Twilio webhook has a few dozen
SESSION_WINDOW = dt.timedelta(hours=24)
# Free text sent a moment before the window closes can arrive after it (error 63016); keep a margin.
WINDOW_MARGIN = dt.timedelta(minutes=5)

# Delivery statuses in the order Twilio reports them; a callback may only move a message forward.
DELIVERY_RANK = {"queued": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5}
DELIVERY_FAILURES = frozenset({"failed", "undelivered"})

# Characters XML 1.0 cannot carry; TwiML with them would be refused by Twilio.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# The Twilio library logs every request's URL and headers at INFO; keep that out of the application's log.
_http_log = logging.getLogger(f"{__name__}.http")
_http_log.setLevel(logging.WARNING)


# --- configuration -------------------------------------------------------------------------------------------


def missing_settings(settings: Settings) -> list[str]:
    """The settings WhatsApp still needs. PUBLIC_URL counts once any Twilio setting is given: without it the
    webhook signatures cannot be checked."""
    required = (
        ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
        ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
        ("TWILIO_WHATSAPP_FROM", settings.twilio_whatsapp_from),
    )
    missing = [name for name, value in required if not value]
    if len(missing) < len(required) and not settings.public_url:
        missing.append("PUBLIC_URL")
    return missing


def status_line(settings: Settings) -> str:
    missing = missing_settings(settings)
    if missing == ["PUBLIC_URL"]:
        return "WhatsApp: off, PUBLIC_URL not set (Twilio's webhook signatures cannot be verified without it)"
    if missing:
        return f"WhatsApp: off, {', '.join(missing)} not set"
    return f"WhatsApp: on (webhook at {settings.public_url}{WEBHOOK_PATH})"


def create(core: Core) -> WhatsAppChannel | None:
    return None if missing_settings(core.settings) else WhatsAppChannel(core)


def new_http_client() -> AsyncHttpClient:
    """The HTTP client under the Twilio client; a seam for tests (a fake API) and proxies (Twilio's documented
    custom-HTTP-client hook). No retries of its own: the notification outbox retries."""
    return AsyncTwilioHttpClient(logger=_http_log)


# --- incoming: parsing ---------------------------------------------------------------------------------------


class Refused(Exception):
    """A webhook request answered with an error status and not processed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> Response:
        return PlainTextResponse(self.reason, status_code=self.status)


async def read_form(request: Request, limit: int) -> FormData:
    """The urlencoded body, read at most `limit` bytes far: 415, 413 or 400 for what is not a sane form."""
    return (await read_form_text(request, limit))[1]


async def read_form_text(request: Request, limit: int) -> tuple[str, FormData]:
    """The body as text and as a form (see `read_form`); the text is kept with a message that becomes a dead letter."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise Refused(415, "expected application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise Refused(400, "bad Content-Length")
        if int(declared) > limit:
            raise Refused(413, "body too large")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise Refused(413, "body too large")
    except ClientDisconnect as exc:
        raise Refused(400, "client went away") from exc
    try:
        text = bytes(body).decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(400, "malformed form") from exc
    return text, FormData(pairs)


def _number(value: str | None, default: int = 0) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


def parse_media(form: FormData) -> tuple[Media, ...]:
    """Attachments: an image becomes a photo, anything else a document; `ref` is Twilio's media URL."""
    media = []
    for index in range(max(0, min(_number(form.get("NumMedia")), MAX_MEDIA))):
        url = form.get(f"MediaUrl{index}")
        if not url:
            continue
        content_type = form.get(f"MediaContentType{index}") or None
        kind = "photo" if (content_type or "").lower().startswith("image/") else "document"
        media.append(Media(kind=kind, ref=url, content_type=content_type))
    return tuple(media)


def parse_location(form: FormData) -> Location | None:
    """A shared location, or None when the message has none (or nonsense coordinates)."""
    try:
        latitude, longitude = float(form.get("Latitude", "")), float(form.get("Longitude", ""))
    except ValueError:
        return None
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return Location(latitude=latitude, longitude=longitude)


def parse_incoming(form: FormData) -> Incoming:
    """Twilio's webhook fields as the core's neutral message; 400 when the sender or message id is missing."""
    message_id = (form.get("MessageSid") or form.get("SmsMessageSid") or "").strip()
    sender = (form.get("From") or "").strip()
    user_id = (form.get("WaId") or "").strip() or sender.removeprefix("whatsapp:").strip()
    if not message_id or not sender or not user_id:
        raise Refused(400, "From and MessageSid are required")
    payload = (form.get("ButtonPayload") or "").strip() or None
    text = form.get("Body") or form.get("ButtonText") or ""
    return Incoming(
        channel=CHANNEL,
        user_id=user_id[:128],
        text=text,
        display_name=(form.get("ProfileName") or "").strip() or None,
        message_id=message_id[:128],
        payload=payload,
        media=parse_media(form),
        location=parse_location(form),
        can_attach=True,
    )


# --- outgoing: rendering -------------------------------------------------------------------------------------


def render_reply(reply: Reply) -> str:
    """A reply as plain text, its options numbered so "2" or the label picks one (as in the console)."""
    text = reply.text.strip()
    if not reply.options:
        return text
    options = "\n".join(f"{i}. {option.label}" for i, option in enumerate(reply.options, start=1))
    return f"{text}\n\n{options}" if text else options


def split_text(text: str, limit: int = MAX_BODY_CHARS) -> list[str]:
    """Pieces of at most `limit` characters, cut at paragraphs, then lines, then words, and only then mid-word."""
    return [piece for piece in (chunk.strip() for chunk in _split(text.strip(), limit, ("\n\n", "\n", " "))) if piece]


def _split(text: str, limit: int, separators: tuple[str, ...]) -> list[str]:
    if len(text) <= limit:
        return [text]
    if not separators:
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    separator, finer = separators[0], separators[1:]
    chunks: list[str] = []
    current = ""
    for part in text.split(separator):
        if len(part) > limit:
            if current:
                chunks.append(current)
            *whole, current = _split(part, limit, finer)
            chunks.extend(whole)
            continue
        joined = f"{current}{separator}{part}" if current else part
        if len(joined) <= limit:
            current = joined
        else:
            chunks.append(current)
            current = part
    if current:
        chunks.append(current)
    return chunks


def xml_safe(text: str) -> str:
    return _XML_INVALID.sub("", text)


def outcome_messages(outcome: Outcome) -> list[str]:
    """The WhatsApp messages for an outcome: each reply rendered, then split to Twilio's length limit."""
    return [piece for reply in outcome.replies for piece in split_text(xml_safe(render_reply(reply)))]


TWIML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def twiml_text(messages: Iterable[str]) -> str:
    """TwiML replying with `messages`, written as twilio's MessagingResponse writes it, without building a tree
    (that cost a tenth of a webhook's CPU)."""
    bodies = "".join(f"<Message>{escape(body)}</Message>" if body else "<Message />" for body in messages)
    return f"{TWIML_HEAD}<Response>{bodies}</Response>" if bodies else f"{TWIML_HEAD}<Response />"


def twiml(messages: Iterable[str]) -> Response:
    return Response(twiml_text(messages), media_type="application/xml")


def template_variable(text: str) -> str:
    """Text for a template variable: WhatsApp refuses new lines, tabs and long runs of spaces there (63013)."""
    flat = " / ".join(line.strip() for line in text.splitlines() if line.strip())
    flat = re.sub(r"\s+", " ", flat).strip() or "-"
    return flat if len(flat) <= MAX_BODY_CHARS else flat[: MAX_BODY_CHARS - 1] + "…"


def whatsapp_address(user_id: str) -> str:
    """`whatsapp:+<number>` for a user id (a WaId, digits only, or a number that already has its "+")."""
    number = user_id.removeprefix("whatsapp:")
    return f"whatsapp:{number if number.startswith('+') else '+' + number}"


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


class SignatureCheck:
    """Twilio's signature check, computed with twilio's own `RequestValidator.compute_signature`.

    Twilio may sign the URL with or without the default port, so both forms are accepted. The library's
    `validate` parses the URL and computes both signatures for every request; here the two forms are worked out
    once per URL and the second is computed only when the first does not match.
    """

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)

    @staticmethod
    @lru_cache(maxsize=64)  # our two paths; a query string would add more, so it is bounded
    def url_forms(url: str) -> tuple[str, ...]:
        parsed = urlparse(url)
        return tuple(dict.fromkeys((remove_port(parsed), add_port(parsed))))

    def valid(self, url: str, form: FormData, signature: str) -> bool:
        return any(compare(self.validator.compute_signature(u, form), signature) for u in self.url_forms(url))


# --- the channel ---------------------------------------------------------------------------------------------


class WhatsAppChannel(Channel):
    name = "whatsapp"

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.settings = core.settings
        self.signatures = SignatureCheck(self.settings.twilio_auth_token or "")
        self.http_client: AsyncHttpClient | None = None
        self.client: Client | None = None

    def routes(self) -> list[BaseRoute]:
        return [
            Route(WEBHOOK_PATH, self.webhook, methods=["POST"]),
            Route(STATUS_PATH, self.status_callback, methods=["POST"]),
        ]

    async def start(self, *, receive: bool = True) -> None:
        """One Twilio client per process; its HTTP session is opened here, inside the running loop."""
        if self.client is None:
            self.http_client = new_http_client()
            self.client = Client(
                self.settings.twilio_account_sid, self.settings.twilio_auth_token, http_client=self.http_client
            )

    async def stop(self) -> None:
        http_client, self.http_client, self.client = self.http_client, None, None
        if http_client is not None and hasattr(http_client, "close"):
            await http_client.close()

    # --- webhooks ---

    def signed_url(self, request: Request) -> str:
        """The URL Twilio signed: behind a proxy, scheme and host are PUBLIC_URL's, not what the app sees."""
        query = request.url.query
        return f"{self.settings.public_url}{request.url.path}{'?' + query if query else ''}"

    async def verified_form(self, request: Request) -> FormData:
        """The form of a request Twilio signed; Refused (403, 413, 415, 400) otherwise."""
        return (await self.verified(request))[1]

    async def verified(self, request: Request) -> tuple[str, FormData]:
        """The body (as text and as a form) of a request Twilio signed; Refused (403, 413, 415, 400) otherwise."""
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise Refused(403, "missing signature")
        body, form = await read_form_text(request, self.settings.max_webhook_body_bytes)
        if not self.signatures.valid(self.signed_url(request), form, signature):
            log.warning("whatsapp: refused a request to %s with a wrong signature", request.url.path)
            raise Refused(403, "bad signature")
        return body, form

    async def webhook(self, request: Request) -> Response:
        """An incoming message: handled once through the core, answered in TwiML.

        A transient database failure answers 503 so Twilio tries again; a message that fails for any other reason
        is kept by the core as a dead letter and answered with an apology (the core's outcome, as any reply).
        """
        try:
            body, form = await self.verified(request)
            incoming = parse_incoming(form)
        except Refused as refused:
            return refused.response()
        try:
            outcome = await self.core.dispatcher.handle(incoming, payload=body)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("whatsapp: database unavailable (%s); Twilio will retry", type(exc).__name__)
            return PlainTextResponse("temporarily unavailable", status_code=503, headers={"Retry-After": "5"})
        if outcome.duplicate:  # Twilio never got our response: the same replies again, the message not handled again
            log.info("whatsapp: redelivery of %s answered with its stored replies", incoming.message_id)
        return twiml(outcome_messages(outcome))

    async def status_callback(self, request: Request) -> Response:
        """A delivery update for a message we sent: recorded on its notification, only ever forward."""
        try:
            form = await self.verified_form(request)
        except Refused as refused:
            return refused.response()
        sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
        status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
        if not sid or not status:
            return PlainTextResponse("MessageSid and MessageStatus are required", status_code=400)
        try:
            await self.record_delivery(sid, status, (form.get("ErrorCode") or "").strip() or None)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("whatsapp: database unavailable for a status callback (%s)", type(exc).__name__)
            return PlainTextResponse("temporarily unavailable", status_code=503, headers={"Retry-After": "5"})
        return PlainTextResponse("")

    async def record_delivery(self, sid: str, status: str, error_code: str | None) -> bool:
        """Move the notification sent as `sid` to `status` if that is forward; True when it changed.

        The row is locked (FOR UPDATE; SQLite's BEGIN IMMEDIATE serialises anyway), so two callbacks
        racing each other cannot leave it at the older status.
        """
        async with self.core.db.session() as session, session.begin():
            query = select(Notification).where(Notification.channel == CHANNEL, Notification.external_id == sid)
            notification = (await session.exec(query.with_for_update())).first()
            if notification is None:
                log.debug("whatsapp: status %s for unknown message %s ignored", status, sid)
                return False
            if not delivery_advances(notification.delivery_status, status):
                return False
            notification.delivery_status = status
            if status in DELIVERY_FAILURES:
                notification.delivery_error_code = (error_code or "")[:16] or None
            session.add(notification)
        return True

    # --- outbound ---

    async def inside_window(self, user_id: str) -> bool:
        """Whether the user wrote to us within WhatsApp's 24-hour customer-service window (less a margin)."""
        async with self.core.db.session() as session:
            profile = await session.get(UserProfile, (CHANNEL, user_id))
        if profile is None:
            return False
        return utcnow() - profile.last_inbound_at < SESSION_WINDOW - WINDOW_MARGIN

    async def message_fields(self, user_id: str, text: str) -> dict[str, Any]:
        """What to send: free text inside the 24-hour window, the approved template outside it."""
        fields: dict[str, Any] = {
            "to": whatsapp_address(user_id),
            "from_": self.settings.twilio_whatsapp_from,
            "status_callback": f"{self.settings.public_url}{STATUS_PATH}",
        }
        if await self.inside_window(user_id):
            if len(text) > MAX_BODY_CHARS:
                log.warning("whatsapp: notification of %d characters cut to %d", len(text), MAX_BODY_CHARS)
                text = text[: MAX_BODY_CHARS - 1] + "…"
            return {**fields, "body": text}
        if not self.settings.twilio_template_content_sid:
            raise SendError(
                "outside WhatsApp's 24-hour window and TWILIO_TEMPLATE_CONTENT_SID is not set", retryable=False
            )
        variables = json.dumps({"1": template_variable(text)}, ensure_ascii=False)
        return {**fields, "content_sid": self.settings.twilio_template_content_sid, "content_variables": variables}

    async def send(self, user_id: str, text: str, options: Sequence[Option] = ()) -> Sent:
        """Send a notification; SendError(retryable=True) on a timeout, a network error, 429 or 5xx."""
        client = self.client
        if client is None:
            raise SendError("WhatsApp channel is not started", retryable=True)
        try:
            fields = await self.message_fields(user_id, render_reply(Reply(text, tuple(options))))
        except Exception as exc:
            if not is_transient(exc):
                raise
            raise SendError(f"database unavailable ({type(exc).__name__})", retryable=True) from exc
        seconds = self.settings.twilio_send_timeout_seconds
        try:
            async with asyncio.timeout(seconds):
                message = await client.messages.create_async(**fields)
        except TimeoutError as exc:
            raise SendError(f"Twilio did not answer within {seconds:g} s", retryable=True) from exc
        except TwilioException as exc:
            raise _refusal(exc) from exc
        except (ClientError, OSError) as exc:
            raise SendError(f"could not reach Twilio ({type(exc).__name__})", retryable=True) from exc
        return Sent(external_id=message.sid)


def _refusal(exc: TwilioException) -> SendError:
    """Twilio's error as a SendError; its message is left out because it can quote the phone number."""
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    retryable = not isinstance(status, int) or status >= 500 or status == 429
    return SendError(f"Twilio refused the message (HTTP {status}, error {code})", retryable=retryable)
