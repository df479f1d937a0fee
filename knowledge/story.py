"""Grievances told as a story, in no set phrase: the shape of the sentence says something went wrong.

People rarely write "I want to complain". They tell what happened: "space allot hui thi magar abhi tak handover nahi
kiya", "ای روزگار میں داخلہ ہوا تھا مگر کلاسیں ہی نہیں ہو رہیں", "fee maaf honi chahiye thi phir bhi poori li gayi",
"4 mahine se payment nahi ki", "the vendor refuses to fix it". Four shapes, read sentence by sentence and only where
a sentence tells rather than asks (the shape complete before any question word: "kya abhi tak nahi bana?" asks, and
so does a sentence ending in a question mark with no question word in it):
  * a broken expectation: something that was, was done or should have been, then "but"/"magar" and a negation or
    "still", or "phir bhi"/"even so" after it (the expectation was not met);
  * still not: "abhi tak"/"aaj tak"/"still" with a negation a few words on;
  * how long: a span of time with "se"/"for"/"since", then a negation or a word for stopped ("band", "down");
  * a judgement of what was done: "wrong", "unfair", "refuses", "pending", "ghalat", "inkar", "ناانصافی"; read in
    the whole sentence, as rhetorical questions ("ye kya tareeka hai", "hamara kya qasoor") are judgements too.
Each word list is the lexicon's (lexicon.yaml), so a new way of saying it is data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from knowledge.normalize import normalize_chars, phrases
from knowledge.schema import LexiconFile

# Negations that say a thing did not happen; Roman "na" is also a particle of asking ("bata do na").
NOT_DONE = frozenset(map(normalize_chars, ("not", "nahi", "nahin", "nhi", "nai", "نہیں", "never")))
# English negations written as contractions, apostrophe dropped or split off by normalising: "hasnt", "can t".
_CONTRACTED = re.compile(r"^(is|are|was|were|has|have|had|does|do|did|ca|can|could|would|should|wo|must)nt$")
# Sentences, not comma clauses: "paid for it, but it never came" is one telling.
_CLAUSE = re.compile(r"([^.?!\n\u061f\u06d4]*)([.?!\n\u061f\u06d4]*)")
_ENGLISH_PAST = re.compile(r"^[a-z]{3,}ed$")  # "applied", "registered": something done, then "but"
# Roman Urdu perfectives, the auxiliary alone ("ho gaye", "jama karwa diya") or written joined to its verb ("hogaye",
# "kardiya", "hochuka"), in the spellings people type: something done or that happened, then "lekin". Bare "liye"
# and "lia" are left out: "ke liye" is "for".
_ROMAN_PERFECTIVE = re.compile(
    r"^(?:ho|kar|kr|de|le|mil|aa|ja|kat|ban|bun|lag)?(?:gaya|gaye|gayi|gai|gae|gya|gye|gyi|chuka|chuke|chuki|chukay)$"
    r"|^(?:ho|kar|kr|de|le)?(?:diya|diye|dia|liya)$|^(?:kar|kr|de|le)(?:di|li|liye|lia)$"
)
EXPECTATION_WINDOW = 6  # words from what was expected to the "but" that denies it
DENIAL_WINDOW = 6  # words from "but" or "still" to the negation
SPAN_WINDOW = 2  # words from a span of time to its "se"/"for"


def is_negation(words: list[str], at: int) -> bool:
    """Whether words[at] says a thing did not happen ("nahi", "hasn't", "can t")."""
    word = words[at]
    if word in NOT_DONE or _CONTRACTED.match(word):
        return True
    return word == "t" and at > 0 and words[at - 1].endswith("n")


def _done(word: str) -> bool:
    """Whether a word is a past or perfective form: English "-ed", a Roman Urdu perfective auxiliary."""
    return bool(_ENGLISH_PAST.match(word) or _ROMAN_PERFECTIVE.match(word))


def starts(words: list[str], said: Iterable[str]) -> list[int]:
    """Where any of the phrases `said` (normalised, one or more words) starts in `words`."""
    spots = []
    for phrase in said:
        parts = phrase.split()
        spots += [i for i in range(len(words) - len(parts) + 1) if words[i : i + len(parts)] == parts]
    return sorted(set(spots))


class StoryReader:
    """Built once from the lexicon; `tells` reads one message."""

    def __init__(self, lexicon: LexiconFile) -> None:
        self.expected = phrases(lexicon.expectation_words)
        self.contrast = phrases(lexicon.contrast_words)
        self.despite = phrases(lexicon.despite_words)
        self.still = phrases(lexicon.still_words)
        self.since = phrases(lexicon.since_words)
        self.blame = phrases(lexicon.blame_words)
        self.spans = frozenset(phrases(lexicon.time_spans))
        self.alternatives = frozenset(phrases(lexicon.alternative_words))
        self.stopped = frozenset(phrases(lexicon.stopped_words))
        self.own_doing = phrases(lexicon.own_doing)
        self.asking = frozenset(phrases(lexicon.asking_words)) | frozenset(phrases(lexicon.question_openers))

    def sentences(self, text: str) -> list[tuple[list[str], bool]]:
        """The message's sentences, normalised, each with whether it ends in a question mark."""
        return [
            (normalize_chars(body).split(), "?" in ends or "\u061f" in ends)
            for body, ends in _CLAUSE.findall(text)
            if body.strip()
        ]

    def tells(self, text: str) -> bool:
        """Whether a sentence tells of a grievance. Its shapes are read up to its first question word ("paid, but no
        stamp came, what do I do now?" tells before it asks); a sentence that ends in a question mark with no
        question word ("abhi tak sign nahi hua?") asks yes or no, and tells nothing. A judgement counts anywhere in a
        sentence that does not end in a question mark, as rhetorical questions are ("ye kya tareeka hai")."""
        for words, question in self.sentences(text):
            asked = next((i for i, w in enumerate(words) if w in self.asking), len(words))
            if question and asked == len(words):
                continue
            told = words[:asked]
            if (not question and starts(words, self.blame)) or (told and self._shaped(told)):
                return True
        return False

    def _shaped(self, words: list[str]) -> bool:
        return self._broken_expectation(words) or self._still_not(words) or self._lasting(words)

    def _denied_after(self, words: list[str], at: int) -> bool:
        return any(is_negation(words, i) for i in range(at + 1, min(len(words), at + 1 + DENIAL_WINDOW)))

    def _broken_expectation(self, words: list[str]) -> bool:
        expected = starts(words, self.expected) + [i for i, w in enumerate(words) if _done(w)]
        despite = set(starts(words, self.despite))
        for at in sorted(set(starts(words, self.contrast)) | despite):
            if not any(at - EXPECTATION_WINDOW <= e < at for e in expected):
                continue
            if at in despite or self._denied_after(words, at):
                return True
        return False

    def _still_not(self, words: list[str]) -> bool:
        """ "abhi tak handover nahi kiya"; not one side of a question ("sign ho gaya ya abhi tak nahi"), nor what
        the writer has not done ("hum ne abhi tak register nahi kiya": the agent is the writer)."""
        if starts(words, self.own_doing):
            return False
        return any(
            self._denied_after(words, at) and not (at and words[at - 1] in self.alternatives)
            for at in starts(words, self.still)
        )

    def _lasting(self, words: list[str]) -> bool:
        """ "4 mahine se payment nahi ki", "دو ہفتے سے بند ہے": a span, then what did not happen or what stopped."""
        spans = [i for i, w in enumerate(words) if w in self.spans]
        since = starts(words, self.since)
        if starts(words, self.own_doing):
            return False
        for at in spans:
            near = [s for s in since if abs(s - at) <= SPAN_WINDOW]
            stopped = any(w in self.stopped for w in words[at + 1 : at + 1 + DENIAL_WINDOW])
            if near and (self._denied_after(words, at) or stopped):
                return True
        return False
