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
        self.together = {facet: [_rule(r) for r in rules] for facet, rules in kb.lexicon.facets_together.items()}

    def asked_together(self, text: str) -> list[str]:
        """Facets asked by words that stand apart: "when will the Faisalabad park open" (when + open)."""
        said = f" {normalize_chars(text)} "
        return [
            facet
            for facet, rules in self.together.items()
            if any(all(any(f" {w} " in said for w in part) for part in rule) for rule in rules)
        ]

    def asked(self, text: str) -> list[str]:
        """The entry facets a message asks for, in the lexicon's order."""
        said = f" {normalize_chars(text)} "
        return [facet for facet, phrases in self.asks.items() if any(self._asks(said, p) for p in phrases)]

    def _asks(self, said: str, phrase: str) -> bool:
        """Whether a facet's phrase asks in this message. A bare question word ("when", "kab") with another question
        word anywhere in the message is a conjunction: "when the minister visited, who did he meet" and "whose lead
        did they follow when they went" ask who, not when."""
        at = said.find(f" {phrase} ")
        if at < 0:
            return False
        if phrase not in self.question_words:
            return True
        return not any(word in self.question_words and word != phrase for word in said.split())

    def gives(self, entry_id: str, facet: str) -> bool:
        """Whether the entry's facts include `facet` (an entry the facet does not apply to counts as giving it)."""
        entry = self.kb.entries[entry_id]
        parks = [park for place in entry.places for park in self.kb.parks_in(place)]
        if facet == "size":
            return any(p.area_sqft for p in parks) if parks else bool(_SQUARE_FEET.search(entry.answer.en))
        if facet == "host":
            return any(p.host for p in parks) if parks else True
        if facet == "date":
            return bool(_YEAR.search(entry.answer.en))
        if facet in ("places", "site"):  # "which cities", "where is it": the entry must name some place
            answer = f" {normalize_chars(entry.answer.en)} "
            return bool(entry.places) or any(f" {name} " in answer for name in self.place_names)
        if facet == "fee":
            return bool(_RUPEES.search(entry.answer.en))
        return True
