"""What a message asks the bot to DO, before any question is looked up: check a complaint, take a grievance,
or (at any step, flows included) switch language. Greetings, small talk and goodbyes are read by the matcher,
which knows when a "thanks" comes with a question. Each detector reads lexicon.yaml's phrase lists, so a new way of
saying a thing is data, not code.

Detectors work on the normalised text (normalize.py: case, Urdu letter forms, Eastern digits, punctuation), so
"CMP-۲۰۲۶-۰۰۰۱۲۰", "cmp 2026 120" and "Cmp2026000120" are the same reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from knowledge.losses import LossReader
from knowledge.normalize import normalize_chars, phrases
from knowledge.schema import LexiconFile
from knowledge.story import NOT_DONE, StoryReader, is_negation, starts

# A complaint reference anywhere in a message: CMP, the year, the number; separators optional. In Urdu script the
# letters are spelt out as they are said ("سی ایم پی"), as Urdu writes every Latin acronym (PSEB is "پی ایس ای بی").
_REFERENCE = re.compile(r"(?<![a-z0-9\u0600-\u06ff])(?:cmp|سی\s*ایم\s*پی)\s*(20\d\d)\s*(\d{1,6})(?!\d)")
READ_CACHE_SIZE = 4096  # distinct short message texts whose intent is remembered (an intent is small)
CACHED_TEXT_CHARS = 200  # longer messages are read afresh: they are rarely repeated
LANGUAGE_REQUEST_WORDS = 16  # a request to switch language is a short message; a longer one is a question
STATUS_MAX_WORDS = 4  # "koi update aya kya": longer messages name what they ask about
MAX_OTHER_WORDS = 6  # words besides a language's name and request words ("i cant read urdu script")
_PARTICLES = frozenset(
    map(normalize_chars, ("hi", "ہی", "bhi", "بھی"))
)  # emphasis that does not change a phrase ("koi sunta hi nahi")
_NEGATIONS = frozenset(map(normalize_chars, ("not", "no", "nahi", "nahin", "na", "نہیں", "نہ")))
# Plain negations for the absence and own-story readings ("never" only counts next to a verb of something owed,
# where story.is_negation reads it, contractions included).
_NOT_DONE = NOT_DONE - {"never"}
COMPLAINT_WORD = "complaint"  # the lexicon's synonym group of a complaint's spellings
OWN_WINDOW = 4  # words between "my"/"meri" and the complaint it owns ("meri e stamping wali shikayat")
OWED_WINDOW = 2  # words between a negation and the owed verb it denies ("has not yet come", "aya hi nahi")
ABSENCE_WINDOW = 5  # words from "koi"/"nobody" to the negation it takes ("koi bhi sunne wala nahi")


def _plain(text: str) -> str:
    """The normalised message without emphatic particles, for phrase lists."""
    return " ".join(word for word in normalize_chars(text).split() if word not in _PARTICLES)


def _has(text: str, phrase: str) -> bool:
    return f" {phrase} " in f" {text} "


def _without(words: list[str], spelled: list[str], phrase: list[str]) -> str:
    """`words` without the span where `spelled` (the same words, respelled one for one) holds `phrase`."""
    for at in range(len(spelled) - len(phrase) + 1):
        if spelled[at : at + len(phrase)] == phrase:
            return " ".join(words[:at] + words[at + len(phrase) :])
    return " ".join(words)


def find_reference(text: str) -> str | None:
    """The complaint reference in `text` in canonical form (CMP-2026-000123), wherever it stands."""
    match = _REFERENCE.search(normalize_chars(text))
    if not match:
        return None
    return f"CMP-{match.group(1)}-{int(match.group(2)):06d}"


def without_reference(text: str) -> str:
    """The message with its complaint reference taken out (what else it says)."""
    return " ".join(_REFERENCE.sub(" ", normalize_chars(text)).split())


@dataclass(frozen=True)
class Intent:
    """A non-question intent: `kind` is status or complaint."""

    kind: str
    value: str = ""  # status: the reference, or "" for "my complaints"


class IntentReader:
    """Built once from the lexicon; `read` is a few substring checks on the normalised message."""

    def __init__(self, lexicon: LexiconFile, about_us: Callable[[str], bool] | None = None) -> None:
        """`about_us`: whether a message names something of the knowledge base's domain (a service, an organisation,
        one of its figures); a grievance about anything else (an electricity bill, a bank) is not a complaint here."""
        # Roman Urdu puts the verb after its object: "track complaint" is also said "complaint track (karni hai)".
        # Every spelling of "complaint" (the lexicon's synonyms) reads as one word in status phrases: "complain ki
        # thi", "shikait ka kya bana" and "شکایات کی صورتحال" are the listed phrases in other spellings.
        self.complaint_spellings = frozenset(
            w for w in phrases(lexicon.synonyms.get(COMPLAINT_WORD, [])) if " " not in w
        )
        said = [self._spelled_as_one(p) for p in phrases(lexicon.status_phrases)]
        self.status = list(dict.fromkeys([*said, *(" ".join(p.split()[::-1]) for p in said if len(p.split()) == 2)]))
        self.grievances = phrases(lexicon.grievances)
        self.absence = frozenset(phrases(lexicon.absence_words))
        self.alternatives = frozenset(phrases(lexicon.alternative_words))
        self.openers = frozenset(phrases(lexicon.question_openers))
        self.owed = frozenset(phrases(lexicon.owed_verbs))
        self.first_person = frozenset(phrases(lexicon.first_person))
        self.time_spans = frozenset(phrases(lexicon.time_spans))
        self.asking = frozenset(phrases(lexicon.asking_words))
        self.status_words = sorted(phrases(lexicon.status_words), key=len, reverse=True)
        self.complaint_nouns = frozenset(phrases(lexicon.complaint_nouns))
        self.outcomes = phrases([*lexicon.outcome_words, *lexicon.status_words])
        self.fillers = frozenset(phrases(lexicon.stopwords)) | self.asking | self.absence
        self.losses = LossReader(lexicon)
        self.stories = StoryReader(lexicon)
        self.about_us = about_us or (lambda _text: True)
        self.request_words = frozenset(w for phrase in phrases(lexicon.language_requests) for w in phrase.split())
        self._read_cached = lru_cache(maxsize=READ_CACHE_SIZE)(self._read)
        self.reply_verbs = frozenset(w for phrase in phrases(lexicon.reply_verbs) for w in phrase.split())
        names = [(lang, name) for lang, words in lexicon.languages.items() for name in words]
        self.language_names = sorted(
            ((lang, normalize_chars(name)) for lang, name in names if len(normalize_chars(name)) > 2),
            key=lambda pair: len(pair[1]),
            reverse=True,
        )

    def _spelled_as_one(self, said: str) -> str:
        return " ".join(COMPLAINT_WORD if w in self.complaint_spellings else w for w in said.split())

    @staticmethod
    def _negated(said: str, at: int, name: str) -> bool:
        """ "urdu script mein nahi, roman mein": a language named only to be refused."""
        after = f" {said} "[at + len(name) + 2 :].split()[:2]
        return any(word in _NEGATIONS for word in after)

    def read(self, text: str, topic: str | None = None) -> Intent | None:
        """What `text` asks the bot to do, if anything (read once per distinct short text: every message asks this).
        `topic`: the conversation's last question; a grievance that names no subject of ours ("haan wohi, mere paise
        kat gaye") is about it when it is about something of ours ("e-stamping kya hai")."""
        if len(text) > CACHED_TEXT_CHARS:
            return self._read(text, topic)
        return self._read_cached(text, topic)

    def _about(self, text: str, topic: str | None) -> bool:
        return self.about_us(text) or (topic is not None and self.about_us(topic))

    def _read(self, text: str, topic: str | None = None) -> Intent | None:
        said = _plain(text)
        if not said:
            return None
        reference = find_reference(text)
        if reference is not None:
            return Intent("status", reference)
        if self._asks_how_it_stands(said):
            return Intent("status")
        spelled = self._spelled_as_one(said)
        status = [phrase for phrase in self.status if _has(spelled, phrase)]
        if status:  # the rest keeps the writer's spellings, which the grievance phrases are listed in
            rest = _without(said.split(), spelled.split(), status[0].split())
        else:
            status = self._own_complaint_outcome(said)
            rest = f" {said} ".replace(f" {status[0]} ", " ").strip() if status else ""
        if status:
            # "I complained on the SMS portal weeks ago and nothing happened": a complaint made to a service of ours,
            # gone unanswered, is a grievance about that service; "I complained, any update?" asks for its status.
            if (self._grievance(rest) or self._loss(text, rest)) and self._about(rest, topic):
                return Intent("complaint")
            return Intent("status")
        told = self._grievance(said) or self._own_story(text, said) or self._loss(text, said)
        if (told or self.stories.tells(text)) and self._about(text, topic):
            return Intent("complaint")
        return None

    def _own_complaint_outcome(self, said: str) -> list[str]:
        """ "is my e-stamp complaint resolved yet", "meri CFC wali shikayat pe koi action hua": the writer's own
        complaint (a first-person word at most OWN_WINDOW words before a word for a complaint) and a word for what
        became of it; returned as the phrase to read the rest of the message without (the complaint noun)."""
        words = said.split()
        mine = starts(words, self.first_person)  # "میں نے" is two words
        own = [
            at
            for at, word in enumerate(words)
            if word in self.complaint_nouns and any(at - OWN_WINDOW <= m < at for m in mine)
        ]
        if own and any(_has(said, outcome) for outcome in self.outcomes):
            return [words[own[0]]]
        return []

    def _asks_how_it_stands(self, said: str) -> bool:
        """ "any update?", "kya update hai", "status?": a short message of status words and fillers only; with a
        subject ("stp status", "registration update") it is a question about that subject."""
        if len(said.split()) > STATUS_MAX_WORDS:
            return False
        rest = f" {said} "
        for phrase in self.status_words:
            rest = rest.replace(f" {phrase} ", " ")
        words = rest.split()
        return len(words) < len(said.split()) and all(w in self.fillers for w in words)

    def _loss(self, text: str, said: str) -> bool:
        """Money lost to a service, or nobody there, told as a statement (knowledge/losses.py)."""
        words = said.split()
        if not words or words[0] in self.openers:
            return False
        if self.losses.lost_money(words):
            return True
        asks = "?" in text or "\u061f" in text or any(w in self.asking for w in words)
        story = any(w in self.first_person or w in self.time_spans for w in words)
        return not asks and self.losses.nobody_there(words, story)

    def _own_story(self, text: str, said: str) -> bool:
        """Whether a message tells, as a statement in the first person, that something did not happen or how long it
        has gone on ("meri registration teen mahine se ruki hui hai"): a grievance however it is worded. A question
        (a question mark or word) is left to the matcher: "my startup is 2 years old, what is the fee" asks."""
        words = said.split()
        if "?" in text or "\u061f" in text or any(w in self.asking for w in words):
            return False
        if any(a in self.openers and b in self.first_person for a, b in zip(words, words[1:], strict=False)):
            return False  # "... do i need a certificate": an auxiliary before its subject asks
        padded = f" {said} "
        if not any(f" {p} " in padded for p in self.first_person):
            return False
        return any(w in _NOT_DONE or w in self.time_spans for w in words)

    def _grievance(self, said: str) -> bool:
        """Whether a message tells of something that went wrong: a grievance phrase, or a "nobody"/"nothing" word
        with a negation after it ("wahan koi sunne wala nahi tha"); not when the negation is one side of a
        question's alternatives ("sign ho gaya ya abhi tak nahi") or the message opens as a yes/no question."""
        padded = f" {said} "
        for phrase in self.grievances:
            at = padded.find(f" {phrase} ")
            while at >= 0:
                before = padded[:at].split()[-1:]
                if not (before and before[0] in self.alternatives):
                    return True
                at = padded.find(f" {phrase} ", at + 1)
        words = said.split()
        if not words or words[0] in self.openers:
            return False
        if self._owed_not_come(words):
            return True
        for index, word in enumerate(words):
            if word not in self.absence:
                continue
            for at in range(index + 1, min(index + 1 + ABSENCE_WINDOW, len(words))):
                if words[at] in _NOT_DONE and words[at - 1] not in self.alternatives:
                    return True
        return False

    def _owed_not_come(self, words: list[str]) -> bool:
        """Whether a negation stands next to a verb of something owed ("stipend hasn't come", "portal pe submit nahi
        ho raha", "فائل منظور نہیں ہوئی"), the negation not one side of a question's alternatives ("ya nahi")."""
        for index in range(len(words)):
            if not is_negation(words, index) or (index and words[index - 1] in self.alternatives):
                continue
            if words[index + 1 : index + 2] in (["a"], ["an"]):
                continue  # "a company (not a startup) pays": what something is not, not what did not happen
            near = words[max(0, index - OWED_WINDOW - 1) : index] + words[index + 1 : index + 2 + OWED_WINDOW]
            if any(w in self.owed for w in near):
                return True
        return False

    def language_request(self, text: str) -> str | None:
        """ "urdu me batao", "english please", "pls answer in roman urdu, i cant read urdu script": a short message
        that names a language (the first one named) with request words around it, or with a verb of replying and a
        few other words; "is the website in urdu" names something else, so it is a question."""
        said = _plain(text)
        if len(said.split()) > LANGUAGE_REQUEST_WORDS:
            return None
        found = [(f" {said} ".find(f" {name} "), -len(name), lang, name) for lang, name in self.language_names]
        refused = {at for at, _, _, name in found if at >= 0 and self._negated(said, at, name)}
        named = [item for item in sorted(found) if item[0] >= 0 and item[0] not in refused]
        if not named:
            return None
        _, _, lang, name = named[0]
        rest = f" {said} ".replace(f" {name} ", " ", 1).split()
        names = {word for _, other in self.language_names for word in other.split()}
        others = [word for word in rest if word not in self.request_words and word not in names]
        if not others or (any(word in self.reply_verbs for word in rest) and len(others) <= MAX_OTHER_WORDS):
            return lang
        return None
