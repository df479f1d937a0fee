"""How citizens ask for a person and for the bot back, read from knowledge/data/handover.yaml (data, not code,
in English, Urdu and Roman Urdu). Kept apart from the knowledge base's own files, which the matcher validates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from knowledge.normalize import normalize_chars

DATA_FILE = Path(__file__).resolve().parent.parent / "knowledge" / "data" / "handover.yaml"
MAX_EXTRA_WORDS = 4  # "please let me talk to a person now": a request; a long question that mentions one is not


@dataclass(frozen=True)
class Words:
    phrases: frozenset[str]
    alone: frozenset[str]

    @classmethod
    def read(cls, raw: dict[str, Any]) -> Words:
        def fold(key: str) -> frozenset[str]:
            groups = raw.get(key) or {}
            return frozenset(normalize_chars(w) for words in groups.values() for w in words if normalize_chars(w))

        return cls(fold("phrases"), fold("alone"))

    def said(self, text: str) -> bool:
        """The whole message is one of `alone`, or a short message contains one of `phrases` as whole words."""
        said = normalize_chars(text)
        if not said:
            return False
        if said in self.alone or said in self.phrases:
            return True
        padded, length = f" {said} ", len(said.split())
        return any(f" {p} " in padded and length <= len(p.split()) + MAX_EXTRA_WORDS for p in self.phrases)


@dataclass(frozen=True)
class HandoverWords:
    person: Words
    back: Words

    @classmethod
    def load(cls, path: Path = DATA_FILE) -> HandoverWords:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls(Words.read(raw.get("person") or {}), Words.read(raw.get("back") or {}))
