"""Canned replies: texts admins keep in English, Urdu and Roman Urdu, which an agent picks in a conversation.

Only two placeholders exist, {reference} (the complaint's reference) and {first_name} (the citizen's first name as
their chat app gives it); a text is checked when saved, so a typo like {name} is refused with the reason instead of
reaching a citizen. Filled in the citizen's language, the text lands in the reply box for the agent to edit.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import CannedReply, utcnow
from bot.storage import canned as stored
from knowledge.yaml_file import load_yaml

PLACEHOLDERS = ("reference", "first_name")
LANGUAGES = {"en": "English", "ur": "Urdu", "roman": "Roman Urdu"}
MAX_TITLE = 80
MAX_TEXT = 2000  # a staff reply's limit (bot/domain/conversation.py)
DEFAULTS_FILE = "canned_replies.yaml"


class CannedReplyError(ValueError):
    """A canned reply that cannot be saved; the message says what to change."""


def placeholders(text: str, language: str = "en") -> set[str]:
    """The placeholders `text` uses; raises CannedReplyError on an unknown one or a stray brace."""
    label = LANGUAGES.get(language, language)
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise CannedReplyError(
            f"{label}: a brace is not closed or not opened ({exc}); write {{{{ and }}}} for a literal brace"
        ) from exc
    used: set[str] = set()
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            allowed = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            raise CannedReplyError(f"{label}: unknown placeholder {{{name}}}; use {allowed}")
        used.add(name)
    return used


def check(title: str, texts: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The title and the three texts, trimmed and checked; raises CannedReplyError naming the field at fault."""
    title = title.strip()
    if not title:
        raise CannedReplyError("give the reply a title")
    if len(title) > MAX_TITLE:
        raise CannedReplyError(f"the title is longer than {MAX_TITLE} characters")
    cleaned = {}
    for lang, label in LANGUAGES.items():
        text = (texts.get(lang) or "").strip()
        if not text:
            raise CannedReplyError(f"{label}: the text is empty (every reply needs English, Urdu and Roman Urdu)")
        if len(text) > MAX_TEXT:
            raise CannedReplyError(f"{label}: the text is longer than {MAX_TEXT} characters")
        placeholders(text, lang)
        cleaned[lang] = text
    return title, cleaned


def first_name(display_name: str | None) -> str:
    return display_name.split()[0] if display_name and display_name.split() else ""


def _tidy(text: str) -> str:
    """A missing first name leaves "Hello , ..." or ", kya": drop the gap and a leading comma."""
    text = re.sub(r"[ \t]+([,.?!،۔؟])", r"\1", text)
    text = re.sub(r"[,،]\s*([,.?!،۔؟])", r"\1", text)
    text = re.sub(r"^[,،]\s*", "", text.strip())
    return re.sub(r"[ \t]{2,}", " ", text)


def text_of(reply: CannedReply, language: str) -> str:
    return {"ur": reply.text_ur, "roman": reply.text_roman}.get(language, reply.text_en)


def fill(reply: CannedReply, language: str, *, reference: str | None, display_name: str | None) -> str | None:
    """The reply in `language` with its placeholders filled; None when it needs a reference and there is none."""
    text = text_of(reply, language)
    if "reference" in placeholders(text, language) and not reference:
        return None
    return _tidy(text.format(reference=reference or "", first_name=first_name(display_name)))


@dataclass
class Choice:
    """A canned reply as an agent picks it: its title and the filled text."""

    id: int
    title: str
    text: str


async def choices(
    session: AsyncSession, language: str, *, reference: str | None, display_name: str | None
) -> list[Choice]:
    found = []
    for reply in await stored.all_replies(session):
        text = fill(reply, language, reference=reference, display_name=display_name)
        if text is not None and reply.id is not None:
            found.append(Choice(reply.id, reply.title, text))
    return found


async def save(
    session: AsyncSession, reply: CannedReply | None, title: str, texts: dict[str, str], username: str
) -> CannedReply:
    """Add (`reply` None) or change a canned reply, checked; raises CannedReplyError (a title used twice too)."""
    title, cleaned = check(title, texts)
    other = await stored.by_title(session, title)
    if other is not None and (reply is None or other.id != reply.id):
        raise CannedReplyError(f"a canned reply is called {title!r} already")
    reply = reply or CannedReply(title=title, text_en="", text_ur="", text_roman="")
    reply.title = title
    reply.text_en, reply.text_ur, reply.text_roman = cleaned["en"], cleaned["ur"], cleaned["roman"]
    reply.updated_at, reply.updated_by = utcnow(), f"staff:{username}"
    session.add(reply)
    await session.flush()
    return reply


def defaults(directory: Path) -> list[dict[str, Any]]:
    """knowledge/data/canned_replies.yaml's replies, checked (the migration copies them in once)."""
    try:
        raw = load_yaml((directory / DEFAULTS_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CannedReplyError(f"{DEFAULTS_FILE}: cannot read: {exc}") from exc
    items = raw.get("replies") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise CannedReplyError(f"{DEFAULTS_FILE}: 'replies' must be a list")
    rows = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise CannedReplyError(f"{DEFAULTS_FILE}: replies[{i}]: must be a title with en, ur and roman")
        try:
            title, texts = check(str(item.get("title", "")), {k: str(item.get(k, "")) for k in LANGUAGES})
        except CannedReplyError as exc:
            raise CannedReplyError(f"{DEFAULTS_FILE}: replies[{i}]: {exc}") from exc
        rows.append({"title": title, "text_en": texts["en"], "text_ur": texts["ur"], "text_roman": texts["roman"]})
    return rows
