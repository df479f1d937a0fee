"""A tie-breaker among entries that already match: how many of the question's rare words an entry's ANSWER says.

The answer index (answer_index.py) reads only the words of an answer that name something (capitals, concepts,
places), so that ordinary prose does not make an answer look like a match. But the detail a question asks is often
an ordinary word ("unused", "supply", "goals"): among entries whose questions match about equally well, the one
whose answer says that word is the one that answers. This signal never creates a candidate; it only adds a small,
IDF-weighted share to candidates the variants or names already found.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace

from knowledge.match_types import Candidate
from knowledge.normalize import script_of

MIN_LATIN = 5  # ordinary Latin-script words this long or longer ("whether" yes, "with" no)
MIN_URDU = 3  # Urdu script writes most words short


def _ordinary(token: str) -> bool:
    """Whether a word is long enough to carry meaning by itself."""
    if not token.isalpha() and "_" not in token:
        return False
    return len(token) >= (MIN_URDU if script_of(token) == "ur" else MIN_LATIN)


class AnswerWords:
    """Entry -> the ordinary content words of its answer in every language, with their IDF across answers."""

    def __init__(self, answers: Iterable[tuple[str, list[str]]], read: Callable[[str], list[str]]) -> None:
        """`answers`: (entry id, its answer texts); `read`: text -> folded content words, as messages are read."""
        self.words: dict[str, frozenset[str]] = {
            entry_id: frozenset(t for text in texts for t in read(text) if _ordinary(t)) for entry_id, texts in answers
        }
        df: dict[str, int] = defaultdict(int)
        for words in self.words.values():
            for word in words:
                df[word] += 1
        n = max(len(self.words), 1)
        self.idf = {word: math.log(1 + n / count) for word, count in df.items()}

    def share(self, entry_id: str, query: set[str]) -> float:
        """The IDF-weighted share of the message's ordinary words that the entry's answer says."""
        asked = [t for t in sorted(query) if t in self.idf]
        total = sum(self.idf[t] for t in asked)
        if not total:
            return 0.0
        said = self.words.get(entry_id, frozenset())
        return sum(self.idf[t] for t in asked if t in said) / total

    def boost(self, candidates: list[Candidate], query: set[str], weight: float) -> list[Candidate]:
        """Candidates with `weight` times their answer's share of the message added, re-sorted."""
        if not weight or not candidates:
            return candidates
        boosted = [replace(c, score=round(c.score + weight * self.share(c.entry_id, query), 4)) for c in candidates]
        return sorted(boosted, key=lambda c: (-c.score, c.entry_id))
