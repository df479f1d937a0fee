"""The staff alert e-mails' texts, read from knowledge/data/alerts.yaml and checked as they load: every kind has a
one-line subject and a body, and uses only the placeholders filled in for it, so a typo stops the start (naming the
file, the kind and the word) instead of failing an e-mail at 3 a.m."""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowledge.yaml_file import load_yaml

ALERTS_FILE = "alerts.yaml"
COMPLAINT_FIELDS = frozenset({"reference", "body", "category", "district", "due", "link"})
FIELDS = {
    "new": COMPLAINT_FIELDS,
    "reopened": COMPLAINT_FIELDS,
    "citizen_replied": COMPLAINT_FIELDS,
    "routed": COMPLAINT_FIELDS,
    "escalated": COMPLAINT_FIELDS | {"step"},
    "digest": frozenset({"body", "day", "overdue", "due_soon", "lines", "link"}),
}


class AlertTextError(ValueError):
    """alerts.yaml cannot serve; the message names the kind and what is wrong."""


class AlertText(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field(min_length=1, max_length=200, pattern=r"^[^\n]+$")
    body: str = Field(min_length=1, max_length=4000)

    def render(self, values: dict[str, Any]) -> tuple[str, str]:
        return self.subject.format(**values), self.body.format(**values)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def parse_alert_texts(raw: Any) -> dict[str, AlertText]:
    if not isinstance(raw, dict):
        raise AlertTextError(f"{ALERTS_FILE}: expected a mapping of alert kinds")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise AlertTextError(f"{ALERTS_FILE}: unknown alert kind {unknown[0]!r} (known: {', '.join(FIELDS)})")
    texts = {}
    for kind, allowed in FIELDS.items():
        if kind not in raw:
            raise AlertTextError(f"{ALERTS_FILE}: the alert kind {kind!r} is missing")
        try:
            text = AlertText.model_validate(raw[kind])
            used = _fields(text.subject) | _fields(text.body)
        except (ValidationError, ValueError) as exc:  # ValueError: a stray brace
            raise AlertTextError(f"{ALERTS_FILE}: {kind}: {exc}") from exc
        wrong = sorted(used - allowed)
        if wrong:
            raise AlertTextError(f"{ALERTS_FILE}: {kind}: unknown placeholder {{{wrong[0]}}}")
        texts[kind] = text
    return texts


@lru_cache(maxsize=8)
def load_alert_texts(directory: Path) -> dict[str, AlertText]:
    """alerts.yaml from `directory` (KNOWLEDGE_DIR), checked; raises AlertTextError."""
    try:
        raw = load_yaml((directory / ALERTS_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AlertTextError(f"{ALERTS_FILE}: cannot read: {exc}") from exc
    return parse_alert_texts(raw)
