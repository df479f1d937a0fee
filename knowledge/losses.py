"""Grievances told without a set phrase: money lost to a service, or nobody there, told as a statement.

"paise account se kat gaye lekin ... nahi hua", "I lost my fee twice", "رقم کٹ گئی": a word for money near a
past-tense verb of losing it tells of a grievance even when the service is named and the message ends "what do I
do now". "went there three times this week, nobody at the counter": a word that is itself a denial ("nobody",
"no one") in a statement with a span of time or the writer's own words. A conditional ("if the fee is deducted
twice...") or a yes/no question asks about rules instead.
"""

from __future__ import annotations

from knowledge.normalize import phrases
from knowledge.schema import LexiconFile

LOSS_WINDOW = 3  # words between the money and the verb of losing it ("paise account se kat gaye")


def _positions(words: list[str], said: frozenset[str]) -> list[int]:
    """Where any of the (one- or two-word) phrases `said` starts in `words`."""
    return [
        i
        for i in range(len(words))
        if words[i] in said or (i + 1 < len(words) and f"{words[i]} {words[i + 1]}" in said)
    ]


class LossReader:
    """Built once from the lexicon; reads a normalised message's words."""

    def __init__(self, lexicon: LexiconFile) -> None:
        self.money = frozenset(phrases(lexicon.money_words))
        self.lost = frozenset(phrases(lexicon.loss_verbs))
        self.denials = frozenset(phrases(lexicon.denial_words))
        self.conditionals = frozenset(phrases(lexicon.conditional_words))

    def lost_money(self, words: list[str]) -> bool:
        """Whether the message tells that money was taken or lost ("fee kat gayi", "lost my fee"), not asks if."""
        if any(w in self.conditionals for w in words):
            return False
        money, lost = _positions(words, self.money), _positions(words, self.lost)
        return any(abs(m - v) <= LOSS_WINDOW for m in money for v in lost)

    def nobody_there(self, words: list[str], story: bool) -> bool:
        """Whether a statement (`story`: it has a span of time or the writer's own words) says nobody was there."""
        return story and bool(_positions(words, self.denials))
