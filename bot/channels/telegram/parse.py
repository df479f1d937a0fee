"""Telegram updates (the Bot API's JSON) read as the core's neutral messages."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from telegram.constants import ChatType

from bot.channels.telegram.config import CHANNEL
from handlers.messages import Incoming, Location, Media

T = TypeVar("T")
# JSON's "\\ud800" escape decodes to a lone surrogate, which no database or encoder accepts: such a message would
# fail wherever it is stored or sent. After decoding, every surrogate left is a lone one (pairs are combined).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class MalformedUpdate(ValueError):
    """An update whose fields are missing or of the wrong type."""


def _field(data: Mapping[str, Any], key: str, kind: type[T]) -> T | None:
    """An optional field of the Bot API's JSON: None when absent, MalformedUpdate when of another type."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedUpdate(f"{key} is not {kind.__name__}")
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)  # type: ignore[return-value]
    return value


def _location(location: Mapping[str, Any]) -> Location | None:
    """A shared location, or None for coordinates that are not a place (NaN, infinite, out of range)."""
    latitude, longitude = location.get("latitude"), location.get("longitude")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (latitude, longitude)):
        raise MalformedUpdate("location needs latitude and longitude")
    latitude, longitude = float(latitude), float(longitude)  # type: ignore[arg-type]
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return Location(latitude=latitude, longitude=longitude)


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
    for key, default_type in (("voice", "audio/ogg"), ("audio", "audio/mpeg")):
        sound = _field(message, key, dict)
        if sound is not None:
            ref = _need(sound, "file_id", str)
            media.append(Media(kind="voice", ref=ref, content_type=_field(sound, "mime_type", str) or default_type))
    location = _field(message, "location", dict)
    place = _location(location) if location is not None else None
    replied = _field(message, "reply_to_message", dict)
    replied_id = _field(replied, "message_id", int) if replied is not None else None
    return Incoming(
        channel=CHANNEL,
        user_id=str(chat_id),
        text=_field(message, "text", str) or _field(message, "caption", str) or "",
        reply_to=str(replied_id) if replied_id is not None else None,
        display_name=name,
        language_hint=language,
        message_id=message_id,
        media=tuple(media),
        location=place,
        can_attach=True,
    )
