"""How citizens ask for a person and for the bot back: the phrases of knowledge/data/handover.yaml (data, not code,
in English, Urdu and Roman Urdu; loaded and validated with the rest of the knowledge base), normalised once."""

from __future__ import annotations

from dataclasses import dataclass

from knowledge import schema
from knowledge.normalize import normalize_chars

MAX_EXTRA_WORDS = 4  # "please let me talk to a person now": a request; a long question that mentions one is not


@dataclass(frozen=True)
class Words:
    phrases: frozenset[str]
    alone: frozenset[str]

    @classmethod
    def of(cls, words: schema.HandoverWords) -> Words:
        def fold(phrases: schema.Phrases) -> frozenset[str]:
            every = (*phrases.en, *phrases.roman, *phrases.ur)
            return frozenset(normalize_chars(w) for w in every if normalize_chars(w))

        return cls(fold(words.phrases), fold(words.alone))

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
    def of(cls, data: schema.HandoverFile) -> HandoverWords:
        return cls(Words.of(data.person), Words.of(data.back))
