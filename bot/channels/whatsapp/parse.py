"""Twilio's webhook forms, read safely and turned into the core's neutral messages."""

from __future__ import annotations

import math
import re
from urllib.parse import parse_qsl

from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from bot.channels.whatsapp.config import CHANNEL
from handlers.messages import Incoming, Location, Media

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_MEDIA = 10  # WhatsApp delivers at most this many attachments per message
MAX_FORM_FIELDS = 200  # a Twilio webhook has a few dozen

# A message SID as Twilio makes them: SM (or MM for media) and 32 hex digits. Anything else is a forgery, such as a
# captured request whose key/value boundaries were moved (Twilio signs keys and values run together).
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")
# What Twilio sends for an incoming WhatsApp message (its "webhook request" guide: the common, geographic,
# WhatsApp, location, button, click-to-WhatsApp-ad and reply parameters) and for a status callback. A name outside
# these is refused: it is how a moved boundary shows.
COMMON_FIELDS = frozenset({"AccountSid", "ApiVersion", "From", "MessageSid", "MessagingServiceSid", "SmsSid", "To"})
INBOUND_FIELDS = COMMON_FIELDS | {
    "Body", "NumMedia", "NumSegments", "SmsMessageSid", "SmsStatus", "MessageType", "ChannelMetadata",
    "FromCity", "FromState", "FromZip", "FromCountry", "ToCity", "ToState", "ToZip", "ToCountry",
    "ProfileName", "WaId", "Forwarded", "FrequentlyForwarded",
    "Latitude", "Longitude", "Address", "Label",
    "ButtonText", "ButtonPayload", "ButtonType", "InteractiveData", "ListId", "ListTitle",
    "ReferralBody", "ReferralHeadline", "ReferralSourceId", "ReferralSourceType", "ReferralSourceUrl",
    "ReferralMediaId", "ReferralMediaContentType", "ReferralMediaUrl", "ReferralNumMedia", "ReferralCtwaClid",
    "OriginalRepliedMessageSender", "OriginalRepliedMessageSid",
}  # fmt: skip
WA_ID = re.compile(r"[0-9]{4,20}")  # a phone number in international form, without its +
INBOUND_NUMBERED = re.compile(r"(MediaUrl|MediaContentType)[0-9]{1,2}")
STATUS_FIELDS = COMMON_FIELDS | {
    "MessageStatus", "SmsStatus", "ErrorCode", "ErrorMessage", "RawDlrDoneDate", "StructuredMessage",
    "ChannelInstallSid", "ChannelPrefix", "ChannelToAddress", "ChannelStatusMessage", "EventType",
}  # fmt: skip


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
    """Attachments: an image becomes a photo, audio a voice note, anything else a document; `ref` is Twilio's
    media URL."""
    media = []
    for index in range(max(0, min(_number(form.get("NumMedia")), MAX_MEDIA))):
        url = form.get(f"MediaUrl{index}")
        if not url:
            continue
        content_type = form.get(f"MediaContentType{index}") or None
        family = (content_type or "").lower().partition("/")[0]
        kind = {"image": "photo", "audio": "voice"}.get(family, "document")
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


def known_fields(form: FormData, names: frozenset[str], numbered: re.Pattern[str] | None = None) -> None:
    """400 for a repeated field or a name Twilio does not send here."""
    keys = list(form.keys())
    if len(set(keys)) != len(keys):
        raise Refused(400, "repeated field")
    for key in keys:
        if key not in names and not (numbered and numbered.fullmatch(key)):
            # Named in the log (names only, never values): Twilio adds parameters without notice, and an operator
            # must see at once which one every message is now refused for.
            raise Refused(400, f"unknown field {key[:40]!r}")


def message_sid(form: FormData, *names: str) -> str:
    """The message SID, given in `names[0]` and equal in every other of `names` present; 400 otherwise."""
    sid = form.get(names[0]) or ""
    if not MESSAGE_SID.fullmatch(sid) or any(form.get(name, sid) != sid for name in names[1:]):
        raise Refused(400, f"{names[0]} is missing, malformed or inconsistent")
    return sid


def parse_incoming(form: FormData, replay_key: str | None = None) -> Incoming:
    """Twilio's webhook fields as the core's neutral message; 400 when the sender or message id is missing, or
    the form is not one Twilio sends (unknown fields, a malformed SID, From not the WaId's number).
    `replay_key` (from the request's signature) makes the core treat another request signed alike as a repeat."""
    known_fields(form, INBOUND_FIELDS, INBOUND_NUMBERED)
    message_id = message_sid(form, "MessageSid", "SmsMessageSid", "SmsSid")
    sender = (form.get("From") or "").strip()
    wa_id = form.get("WaId")
    user_id = wa_id or sender.removeprefix("whatsapp:").strip()
    if not sender or not user_id:
        raise Refused(400, "From and MessageSid are required")
    if wa_id is not None and (not WA_ID.fullmatch(wa_id) or sender != f"whatsapp:+{wa_id}"):
        raise Refused(400, "From does not match WaId")
    payload = (form.get("ButtonPayload") or "").strip() or None
    text = form.get("Body") or form.get("ButtonText") or ""
    replied = (form.get("OriginalRepliedMessageSid") or "").strip()[:64] or None  # the message a reply quotes
    return Incoming(
        channel=CHANNEL,
        user_id=user_id[:128],
        text=text,
        display_name=(form.get("ProfileName") or "").strip() or None,
        message_id=message_id,
        replay_key=replay_key,
        payload=payload,
        reply_to=replied,
        media=parse_media(form),
        location=parse_location(form),
        can_attach=True,
    )


def parse_status(form: FormData) -> tuple[str, str, str | None]:
    """A status callback's (message SID, status, error code); 400 when the SID or the status is missing, or the
    form is not one Twilio sends."""
    known_fields(form, STATUS_FIELDS)
    sid = message_sid(form, "MessageSid", "SmsSid")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not status:
        raise Refused(400, "MessageSid and MessageStatus are required")
    return sid, status, (form.get("ErrorCode") or "").strip() or None
