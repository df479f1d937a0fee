"""The core's replies as WhatsApp messages: plain text with numbered options, split to Twilio's limit, as TwiML."""

from __future__ import annotations

import re
from collections.abc import Iterable
from xml.sax.saxutils import escape

from starlette.responses import Response

from handlers.messages import Outcome, Reply

MAX_BODY_CHARS = 1600  # Twilio refuses longer message bodies (error 21617)
TWIML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'

# Characters XML 1.0 cannot carry; TwiML with them would be refused by Twilio.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


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
    """The text without the characters XML 1.0 cannot carry."""
    return _XML_INVALID.sub("", text)


def outcome_messages(outcome: Outcome) -> list[str]:
    """The WhatsApp messages for an outcome: each reply rendered, then split to Twilio's length limit."""
    return [piece for reply in outcome.replies for piece in split_text(xml_safe(render_reply(reply)))]


def twiml_text(messages: Iterable[str]) -> str:
    """TwiML replying with `messages`, written as twilio's MessagingResponse writes it, without building a tree
    (that cost a tenth of a webhook's CPU)."""
    bodies = "".join(f"<Message>{escape(body)}</Message>" if body else "<Message />" for body in messages)
    return f"{TWIML_HEAD}<Response>{bodies}</Response>" if bodies else f"{TWIML_HEAD}<Response />"


def twiml(messages: Iterable[str]) -> Response:
    return Response(twiml_text(messages), media_type="application/xml")


def template_variables(text: str) -> list[str]:
    """Text for a template's variable, one per message when it is too long for one: WhatsApp refuses new lines,
    tabs and long runs of spaces there (63013), so lines are joined with " / " first."""
    flat = " / ".join(line.strip() for line in text.splitlines() if line.strip())
    flat = re.sub(r"\s+", " ", flat).strip()
    return split_text(flat) or ["-"]
