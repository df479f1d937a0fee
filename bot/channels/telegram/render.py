"""The core's replies as Telegram messages: escaped HTML split within Telegram's limit, options as buttons."""

from __future__ import annotations

import html
from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message

from handlers.messages import Option, Reply

MAX_TEXT = 4096  # Telegram's limit per message, counted in UTF-16 code units after entity parsing
MAX_CALLBACK_BYTES = 64
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # source lines may hold links; previews would bury the answer


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


def marked_choice(message: Message, data: str | None) -> str:
    """The pressed message's text with the label of the button pressed (`data`) added below it, as HTML."""
    buttons = message.reply_markup.inline_keyboard if message.reply_markup else ()
    label = next((b.text for row in buttons for b in row if b.callback_data == data), None)
    return message.text_html + (f"\n\n» {html.escape(label, quote=False)}" if label else "")


def render_notification(text: str, options: Sequence[Option] = ()) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    """A notification as Telegram messages: escaped plain text in parts, the keyboard on the last; [] when empty."""
    parts = split_text(text)
    return [
        (html.escape(part, quote=False), keyboard(options) if n == len(parts) else None)
        for n, part in enumerate(parts, 1)
    ]
