"""The second retrieval signal: the words of every entry's ANSWER, not only of its question variants.

Facts that live only in answers (a person's name and role, a building, an organisation's chairman) are found even
when no variant mentions them. The signal is how much of the message's meaning (IDF-weighted content words) an
answer holds: "who is Osman Nasir" is fully held by every answer naming him, and by nothing else.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable

from knowledge.normalize import script_of


def named_words(text: str) -> str:
    """The words of an answer that name something: in Latin script those written with a capital or a digit (people,
    organisations, buildings, figures), so that "whether" or "reported" in a sentence does not make an answer look
    like a match for "weather"; in Urdu script, which has no capitals, every word."""
    if script_of(text) == "ur":
        return text
    return " ".join(word for word in text.split() if word[:1].isupper() or word[:1].isdigit())


class AnswerIndex:
    """Built once per knowledge base: entry -> the content words of its answer in every language."""

    def __init__(self, answers: Iterable[tuple[str, list[str]]], read: Callable[[str], list[str]]) -> None:
        """`answers`: (entry id, its answer texts); `read`: text -> content words, as the matcher reads messages."""
        self.tokens: dict[str, frozenset[str]] = {}
        for entry_id, texts in answers:
            self.tokens[entry_id] = frozenset(t for text in texts for t in read(text))
        df: dict[str, int] = defaultdict(int)
        for tokens in self.tokens.values():
            for token in tokens:
                df[token] += 1
        n = max(len(self.tokens), 1)
        self.idf = {token: math.log(1 + n / count) for token, count in df.items()}
        self.unknown_idf = math.log(1 + n / 0.5)
        self.postings: dict[str, list[str]] = defaultdict(list)
        for entry_id, tokens in self.tokens.items():
            for token in tokens:
                self.postings[token].append(entry_id)

    def vocabulary(self) -> set[str]:
        return set(self.idf)

    def recall(self, query: set[str]) -> dict[str, float]:
        """Entry -> the share of the message's weight its answer holds (only entries holding some of it)."""
        total = sum(self.idf.get(t, self.unknown_idf) for t in sorted(query))
        if not total:
            return {}
        held: dict[str, float] = defaultdict(float)
        for token in sorted(query):
            weight = self.idf.get(token)
            if weight is None:
                continue
            for entry_id in self.postings.get(token, ()):
                held[entry_id] += weight
        return {entry_id: weight / total for entry_id, weight in held.items()}
