"""A whole message, as opposed to one question in it: what it asks the bot to do, several questions in one message,
and a short follow-up read against the conversation's last question.

The matcher (matcher.py) reads one question: which entry answers it, or why none does. This module decides WHICH
questions a message holds and in what context each is read, and asks the matcher about each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from knowledge.intents import Intent
from knowledge.normalize import normalize_chars

if TYPE_CHECKING:
    from knowledge.match_types import Match
    from knowledge.matcher import Matcher

FOLLOWUP_MAX_WORDS = 4  # a follow-up is short: a place, a facet, a pronoun
MAX_QUESTIONS = 3  # questions answered from one message
MAX_CHARS = 3200  # the part of a long message that is read
# Question marks, line breaks and semicolons end a question; so does a number that opens the next ("1) ... 2) ...").
_QUESTION_BREAK = re.compile(r"[?\u061f\n;]+|(?:^|(?<=\s))\(?[1-9]\)\s")
_CONJUNCTIONS = frozenset({"and", "aur", "اور", "also", "plus"})
RESOLVED = frozenset({"answer", "decline"})  # a question answered, or declined for a facet the sources lack
STANDS_ALONE = frozenset({"closing", "greeting", "complaint_start"})  # never read against the last question


@dataclass(frozen=True)
class Reading:
    """A message as understood: its question(s) in the order asked, the text the first was read as (with the
    last question for a follow-up), and what it asks the bot to do instead, if anything."""

    matches: list[Match]
    asked: str
    action: Intent | None = None


class MessageReader:
    """Reads whole messages with one matcher (built with it; holds no state of its own)."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    def read(self, text: str, previous: str | None = None, previous_entry: str | None = None) -> Reading:
        """Everything a free-text message is read as: the question(s) in it, read against the conversation's last
        question when it does not stand on its own, and what it asks the bot to do (a status check, a grievance).

        A follow-up ("aur pindi mein?", "kitni jagah hai?") that does not answer on its own is read against the
        last question; a message holding several questions is read one question at a time, when at least two
        of them are then answered or declined for a facet.
        """
        m = self.matcher
        action = m.intents.read(text, previous)
        match = m.match(text)
        if action is not None:
            return Reading([match], text, action)
        if previous:
            again = self.follow_up(text, match, previous, previous_entry)
            if again is not None:
                return Reading([again], f"{previous} / {text}")
        parts = self.split_questions(text)
        if len(parts) > 1:
            matches = [m.match(parts[0])]
            for before, part in zip(parts, parts[1:], strict=False):
                # "where is the Rawalpindi park and how big is it": a later question may lean on the one before
                matches.append(self.follow_up(part, m.match(part), before, matches[-1].entry_id) or m.match(part))
            resolved = [x for x in matches if x.intent in RESOLVED and (x.entry_id or x.facet)]
            if len({(x.entry_id, x.facet) for x in resolved}) >= 2:
                return Reading(resolved, parts[0])
        return Reading([match], text)

    def follow_up(self, text: str, alone: Match, previous: str, previous_entry: str | None) -> Match | None:
        """`text` read against the previous question, when it is short and does not answer on its own: the
        reading in context if that answers, or else the previous entry, if the message in context still reads as
        about it most ("whats his full designation" after "who is Osman Nasir"); None when it stands alone."""
        if alone.intent in STANDS_ALONE or not self.is_follow_up(text):
            return None
        if alone.intent == "answer" and not self._refers_back(text) and self._names_something(text):
            return None  # "aur Swat?" answers on its own; "aur pehle kitni thi?" names nothing, so it leans back
        again = self.in_context(text, previous, previous_entry)
        if again.intent in RESOLVED and again.entry_id:
            return again
        top = again.candidates[0] if again.candidates else None
        if top is not None and top.entry_id == previous_entry:
            return replace(again, intent="answer", entry_id=previous_entry, score=top.score, low_confidence=True)
        return None

    def is_follow_up(self, text: str) -> bool:
        """A message short enough to lean on the last question: "aur pindi mein?", "kitni jagah hai?", "uska size?"
        (it is read against that question only when it does not answer on its own)."""
        return len(self.matcher.analyse(text).content) <= FOLLOWUP_MAX_WORDS

    def _names_something(self, text: str) -> bool:
        """Whether a message names a subject of its own: a place, an organisation, a programme, a person, a building
        (not only "before", "how much", "kab")."""
        return any(t in self.matcher.names for t in self.matcher.analyse(text).content)

    def _refers_back(self, text: str) -> bool:
        """Whether a message points back at the last question's subject ("iski fees kitni hai", "its size")."""
        return any(word in self.matcher.referring_words for word in normalize_chars(text).split())

    def in_context(self, text: str, previous: str, entry_id: str | None = None) -> Match:
        """`text` read against the previous question and the entry that answered it: their topic words, with
        their places replaced by any the new message names ("software park kahan hai rawalpindi" + "aur
        faisalabad?" reads as the Faisalabad park; then "kitni jagah hai?" as that park's size)."""
        now = self.matcher.analyse(text)
        topic = [previous]
        if entry_id in self.matcher.kb.entries:
            topic.append(self.matcher.kb.entries[entry_id].questions.en[0])
        before = [t for words in topic for t in self.matcher.analyse(words).content]
        new_places = any(t in self.matcher.places for t in now.content)
        kept = dict.fromkeys(t for t in before if not (new_places and t in self.matcher.places))
        return self.matcher.match(" ".join([*kept, normalize_chars(text)]))

    def split_questions(self, text: str) -> list[str]:
        """The questions in a message: pieces split at question marks and line breaks, and at "and"/"aur" where
        both sides say something the knowledge base knows; a single question comes back whole."""
        pieces = [p.strip() for p in _QUESTION_BREAK.split(text[:MAX_CHARS]) if p.strip()]
        parts: list[str] = []
        for piece in pieces:
            parts.extend(self._split_conjunction(self._without_leading_conjunction(piece)))
        substantial = [p for p in parts if self._substance(p) >= (1 if self._asks(p) else 2)]
        return substantial[:MAX_QUESTIONS] if len(substantial) >= 2 else [text]

    @staticmethod
    def _without_leading_conjunction(piece: str) -> str:
        """ "also which day was the ceremony" after a question mark asks as "which day was the ceremony" does."""
        words = piece.split()
        if len(words) > 1 and normalize_chars(words[0]) in _CONJUNCTIONS:
            return " ".join(words[1:])
        return piece

    def _asks(self, text: str) -> bool:
        """Whether a piece opens with a question word ("who's the IT secretary"): a question of its own even when it
        names one thing only."""
        words = normalize_chars(text).split()
        return bool(words) and words[0] in self.matcher.intents.asking

    def _substance(self, text: str) -> int:
        """How many words of `text` the knowledge base knows, facets asked included."""
        return sum(1 for t in self.matcher.analyse(text).content if t in self.matcher.idf or self.matcher.is_facet(t))

    def _split_conjunction(self, piece: str) -> list[str]:
        words = piece.split()
        for index, word in enumerate(words):
            if normalize_chars(word) in _CONJUNCTIONS and 0 < index < len(words) - 1:
                left, right = " ".join(words[:index]), " ".join(words[index + 1 :])
                need = 1 if self._asks(right) else 2  # "who is the MD of PSEB and who's the IT secretary"
                if all(self._substance(side) >= need for side in (left, right)):
                    return [left, *self._split_conjunction(right)]
        return [piece]
