"""Twilio's webhook forms, read safely and turned into the core's neutral messages."""

from __future__ import annotations

import math
from urllib.parse import parse_qsl

from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from bot.channels.whatsapp.config import CHANNEL
from handlers.messages import Incoming, Location, Media

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_MEDIA = 10  # WhatsApp delivers at most this many attachments per message
MAX_FORM_FIELDS = 200  # a Twilio webhook has a few dozen


class Refused(Exception):
    """A webhook request answered with an error status and not processed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> Response:
        return PlainTextResponse(self.reason, status_code=self.status)


async def read_form_text(request: Request, limit: int) -> tuple[str, FormData]:
    """The urlencoded body as text and as a form, read at most `limit` bytes far: 415, 413 or 400 for what is not
    a sane form. The text is kept with a message that becomes a dead letter."""
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
    replied = (form.get("OriginalRepliedMessageSid") or "").strip()[:64] or None  # the message a reply quotes
    return Incoming(
        channel=CHANNEL,
        user_id=user_id[:128],
        text=text,
        display_name=(form.get("ProfileName") or "").strip() or None,
        message_id=message_id[:128],
        payload=payload,
        reply_to=replied,
        media=parse_media(form),
        location=parse_location(form),
        can_attach=True,
    )


def parse_status(form: FormData) -> tuple[str, str, str | None]:
    """A status callback's (message SID, status, error code); 400 when the SID or the status is missing."""
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not sid or not status:
        raise Refused(400, "MessageSid and MessageStatus are required")
    return sid, status, (form.get("ErrorCode") or "").strip() or None
