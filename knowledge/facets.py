"""The facet a question asks (size, site, date) and whether the entry it is about gives it.

"How big is the Bannu park" is about the Bannu park entry, but the sources give no size for it: answering with the
park's paragraph would let the user read silence as an answer. So the asked facet is checked against the entry's
own facts: a park's records (parks.yaml: host, area), or for other entries the answer's text (a year for a date,
square feet for a size, rupees for a fee). Facets no source gives for anything (phone numbers, opening dates, fees
for renewal...) are the lexicon's `unsupported_facets`, read by the matcher.
"""

from __future__ import annotations

import re

from knowledge.loader import KnowledgeBase
from knowledge.normalize import normalize_chars, phrases

_YEAR = re.compile(r"\b(19|20)\d\d\b")
_SQUARE_FEET = re.compile(r"\bsq\b|square f", re.IGNORECASE)
_RUPEES = re.compile(r"\bRs\b|rupee", re.IGNORECASE)
# A stated duration: "for one year", "one-year", "for 6 months".
_DURATION = re.compile(r"\b(one|two|three|six|twelve|\d+)[- ](year|month|week|day)s?\b", re.IGNORECASE)
_SIGNED = re.compile(r"(?<!be )\bsigned\b", re.IGNORECASE)  # "was signed", not "would be signed soon"
# Facets asked by words that stand apart (lexicon facets_together) that one entry may give and another not; the
# others are facts no source gives for anything.
ENTRY_CHECKED = frozenset({"signing"})
ASKING_WINDOW = 3  # words between a one-word facet noun and the question word that asks it ("area kitna hai")
NOUN_AT_HEAD = 1  # a facet noun among a message's first words asks by itself ("area of the Bannu park?")
SHORT_ASK_WORDS = 4  # ...and so does one that ends a message this short ("quetta STP size?")


def _rule(text: str) -> tuple[frozenset[str], ...]:
    """ "when|kab + open|ready": each part's words are alternatives; every part must be in the message."""
    parts = (frozenset(normalize_chars(w) for w in part.split("|")) - {""} for part in text.split("+"))
    return tuple(parts)


class FacetReader:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.asks = {facet: phrases(words) for facet, words in kb.lexicon.entry_facets.items()}
        self.place_names = [normalize_chars(p.name.en) for p in kb.places.values()]
        self.question_words = frozenset(phrases(w.replace("_", " ") for w in kb.lexicon.question_words))
        self.asking = frozenset(phrases(kb.lexicon.asking_words))
        self.together = {facet: [_rule(r) for r in rules] for facet, rules in kb.lexicon.facets_together.items()}
        self.duration_words = phrases(kb.lexicon.duration_words)
        self.lasting = frozenset(kb.lexicon.lasting_things)
        self.waiting_words = phrases(kb.lexicon.waiting_words)

    def asked_together(self, text: str) -> list[str]:
        """Facets asked by words that stand apart: "when will the Faisalabad park open" (when + open)."""
        said = f" {normalize_chars(text)} "
        return [
            facet
            for facet, rules in self.together.items()
            if any(all(any(f" {w} " in said for w in part) for part in rule) for rule in rules)
        ]

    def asked(self, text: str) -> list[str]:
        """The entry facets a message asks for, in the lexicon's order.

        Where phrases of two facets overlap, the longer one is what was said ("kis jagah", where, is not "jagah",
        how much space); a one-word noun ("area", "date", "site") asks only with a question word near it or at the
        head of the message ("area of the Bannu park"), so "my company is in an underserved area, what is the fee"
        does not ask for an area."""
        said = f" {normalize_chars(text)} "
        words = said.split()
        found = [
            (at, at + len(phrase) + 1, facet, phrase)
            for facet, listed in self.asks.items()
            for phrase in listed
            for at in self._positions(said, phrase)
        ]
        kept = {
            facet
            for start, end, facet, phrase in found
            if not any(s <= start and end <= e and (e - s) > (end - start) for s, e, f, _ in found if f != facet)
            and self._asks(said, phrase, words, start)
        }
        return [facet for facet in self.asks if facet in kept]

    @staticmethod
    def _positions(said: str, phrase: str) -> list[int]:
        spots, at = [], said.find(f" {phrase} ")
        while at >= 0:
            spots.append(at)
            at = said.find(f" {phrase} ", at + 1)
        return spots

    def _asks(self, said: str, phrase: str, words: list[str], at: int) -> bool:
        """Whether a facet's phrase asks in this message. A bare question word ("when", "kab") with another question
        word anywhere in the message is a conjunction: "when the minister visited, who did he meet" and "whose lead
        did they follow when they went" ask who, not when. A one-word noun asks when a question word stands
        within a few words of it, or when it opens the message or ends a short one."""
        if phrase in self.question_words:
            return not any(word in self.question_words and word != phrase for word in words)
        if " " in phrase or phrase in self.asking:
            return True
        index = len(said[:at].split())
        if index <= NOUN_AT_HEAD:
            return True
        if len(words) <= SHORT_ASK_WORDS and index == len(words) - 1:
            return True  # "quetta STP size?": a short message that ends on the noun asks it
        near = words[max(0, index - ASKING_WINDOW) : index + ASKING_WINDOW + 1]
        return any(word in self.asking for word in near)

    def lasts(self, text: str, entry_id: str, tokens: list[str]) -> bool:
        """Whether a message asks how long a benefit lasts ("for how long is the fee waived", "kab tak chhoot milti
        hai") and the entry states for how long ("for one year"): then it answers, where "how long" would otherwise
        be read as a processing time or an opening date the sources never give."""
        said = f" {normalize_chars(text)} "
        if not any(f" {phrase} " in said for phrase in self.duration_words):
            return False
        if any(f" {phrase} " in said for phrase in self.waiting_words):
            return False  # "how long will the exemption take to approve" asks a processing time
        return bool(set(tokens) & self.lasting) and bool(_DURATION.search(self.kb.entries[entry_id].answer.en))

    def gives_own(self, entry_id: str, facet: str) -> bool:
        """Whether the entry itself states `facet` (not merely: the facet does not apply to it), which tells apart
        entries that both fit a question: "where was the MoU signed" is the ceremony's, which names a place."""
        entry = self.kb.entries[entry_id]
        parks = [park for place in entry.places for park in self.kb.parks_in(place)]
        if facet == "host":
            return any(p.host for p in parks)
        if facet == "site" and not parks:
            answer = f" {normalize_chars(entry.answer.en)} "
            return any(f" {name} " in answer for name in self.place_names)
        return self.gives(entry_id, facet)

    def gives(self, entry_id: str, facet: str) -> bool:
        """Whether the entry's facts include `facet` (an entry the facet does not apply to counts as giving it)."""
        entry = self.kb.entries[entry_id]
        if facet == "signing":  # "has it been signed yet": the answer reports a signing, or it does not
            return bool(_SIGNED.search(entry.answer.en))
        parks = [park for place in entry.places for park in self.kb.parks_in(place)]
        if facet == "size":
            return any(p.area_sqft for p in parks) if parks else bool(_SQUARE_FEET.search(entry.answer.en))
        if facet == "host":
            return any(p.host for p in parks) if parks else True
        if facet == "date":
            return bool(_YEAR.search(entry.answer.en))
        if facet == "site" and parks:  # "where in Hyderabad is the park": the city is known, the site is its host
            return any(p.host for p in parks)
        if facet in ("places", "site"):  # "which cities", "where is it": the entry must name some place
            answer = f" {normalize_chars(entry.answer.en)} "
            return bool(entry.places) or any(f" {name} " in answer for name in self.place_names)
        if facet == "fee":
            return bool(_RUPEES.search(entry.answer.en))
        return True
