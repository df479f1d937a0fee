"""A yes/no question the answer confirms: "kya Chitral mein bhi park banega?" is answered "Yes." before the
paragraph, so nobody has to read a paragraph to learn the one word they asked for.

Said only when it is safe to say: the message opens as a yes/no question (or ends in a tag, "right?", "hai na?"),
asks whether something is included or is also so ("is Kohat on the list", "kya Chitral mein bhi", "does the MoU
cover E-Stamping"), offers no alternatives ("or", "ya"), no negation ("isn't it", "nahi") and no obligation ("do
small-city companies also have to pay": the true answer may be no), and every word it asks about is held by the
entry that answers it: its own questions or its answer, in any of the three languages. A word the entry does not
hold ("is tax also included in the fee") means the entry does not say, so no "yes" is added; the answer is given
as it is.
"""

from __future__ import annotations

from collections.abc import Callable

from knowledge.normalize import normalize_chars, phrases
from knowledge.schema import LexiconFile
from knowledge.story import is_negation, starts


class YesNoReader:
    """Built once from the lexicon; `confirms` reads one message against the entry chosen for it."""

    def __init__(self, lexicon: LexiconFile, holds: Callable[[str], frozenset[str]]) -> None:
        self.openers = frozenset(phrases(lexicon.question_openers))
        self.tags = phrases(lexicon.confirming_tags)
        self.alternatives = frozenset(phrases(lexicon.alternative_words))
        self.asking = frozenset(phrases(lexicon.asking_words)) - self.openers
        self.inclusion = phrases(lexicon.inclusion_words)
        self.obligation = phrases(lexicon.obligation_words)
        # words that ask whether, not about what: they need not be in the entry
        self.whether = frozenset(self.inclusion) | frozenset(phrases(lexicon.existence_words))
        self.holds = holds

    def asks_yes_or_no(self, text: str) -> bool:
        words = normalize_chars(text).split()
        if not words or any(w in self.alternatives or w in self.asking for w in words):
            return False
        if any(is_negation(words, at) for at in range(len(words))) or starts(words, self.obligation):
            return False
        if not self.asks_inclusion(text):
            return False
        asked = text.rstrip().endswith(("?", "\u061f"))  # "kohat in the list?": no question word, a question mark
        return asked or words[0] in self.openers or any(words[-len(t.split()) :] == t.split() for t in self.tags)

    def asks_inclusion(self, text: str) -> bool:
        """Whether a message asks if something is included or also so ("bhi", "shamil", "on the list")."""
        return bool(starts(normalize_chars(text).split(), self.inclusion))

    def confirms(self, text: str, entry_id: str, content: list[str]) -> bool:
        """Whether `text` asks yes or no and the entry holds every word it asks about (`content`: the message's
        folded words without stopwords)."""
        asked = set(content) - self.whether
        return bool(asked) and self.asks_yes_or_no(text) and asked <= self.holds(entry_id)
