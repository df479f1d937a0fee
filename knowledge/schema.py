"""The shape of the knowledge-base YAML files.

Pydantic models, so that a staff member's edit that breaks the shape is refused at load time with the file
and entry named, instead of surfacing later as a wrong answer.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9_]*$"

ParkStatus = Literal["planned", "under_discussion", "mou_signed", "work_underway"]
Topic = Literal["parks", "fees", "programmes", "organisations", "strategy", "services", "general"]


class Strict(BaseModel):
    """Unknown keys are errors: a misspelt key would otherwise be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


LANGUAGES = ("en", "ur", "roman")
"""The reply languages: English, Urdu script and Roman Urdu (Urdu in Latin letters, as typed on phones)."""


class LocalText(Strict):
    """A text in English, Urdu and Roman Urdu; all three are required so no user gets a half-translated bot."""

    en: str = Field(min_length=1)
    ur: str = Field(min_length=1)
    roman: str = Field(min_length=1)

    @field_validator("en", "ur", "roman")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    def get(self, lang: str) -> str:
        """The text in `lang`: "roman" and "ur" get their own, anything else English."""
        if lang == "roman":
            return self.roman
        return self.ur if lang == "ur" else self.en


class Source(Strict):
    """One document in ../shared/sources/. `date` is null when the document itself states none."""

    file: str = Field(pattern=r"^[\w.-]+\.txt$")
    title: LocalText
    publisher: str | None = None
    date: dt.date | None = None


class Questions(Strict):
    """Question variants as users write them: English, Roman Urdu and Urdu script."""

    en: list[str] = Field(min_length=1)
    roman: list[str] = Field(min_length=1)
    ur: list[str] = Field(min_length=1)

    @field_validator("ur")
    @classmethod
    def _urdu_script(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.search(r"[\u0600-\u06FF]", value):
                raise ValueError(f"Urdu variant {value!r} has no Urdu script")
        return values

    def all(self) -> list[tuple[str, str]]:
        return [(lang, q) for lang in ("en", "roman", "ur") for q in getattr(self, lang)]


class Entry(Strict):
    """One answerable question. `declines` marks an answer that says the sources are silent."""

    id: str = Field(pattern=ID_PATTERN)
    topic: Topic
    questions: Questions
    answer: LocalText
    sources: list[str] = Field(min_length=1)
    places: list[str] = []
    declines: bool = False


class Place(Strict):
    """A city or district users may name; `aliases` are the spellings and abbreviations people type."""

    id: str = Field(pattern=ID_PATTERN)
    name: LocalText
    province: str
    aliases: list[str] = []
    lat: float | None = Field(default=None, ge=23.0, le=37.5)
    lon: float | None = Field(default=None, ge=60.5, le=78.0)


class Park(Strict):
    """One software technology park as one source describes it; a later source may add a record."""

    id: str = Field(pattern=ID_PATTERN)
    place: str
    host: LocalText | None = None
    area_sqft: int | None = Field(default=None, gt=0)
    status: ParkStatus
    note: LocalText | None = None
    source: str


class EntriesFile(Strict):
    entries: list[Entry]


class SourcesFile(Strict):
    sources: list[Source] = Field(min_length=1)


class PlacesFile(Strict):
    places: list[Place]


class ParksFile(Strict):
    parks: list[Park]


class ParkQuestionTemplates(Strict):
    en: list[str] = Field(min_length=1)
    roman: list[str] = Field(min_length=1)
    ur: list[str] = Field(min_length=1)


class LexiconFile(Strict):
    """lexicon.yaml: how users write (see the comments in the file)."""

    synonyms: dict[str, list[str]]
    spellings: dict[str, list[str]] = {}
    stopwords: list[str] = []
    greetings: list[str] = []
    complaint_phrases: list[str] = []
    unsupported_facets: dict[str, list[str]] = {}
    domain_words: list[str] = []
    park_questions: ParkQuestionTemplates
    roman_markers: list[str] = []
    commands: dict[
        Literal[
            "start",
            "menu",
            "cancel",
            "help",
            "language",
            "status",
            "fees",
            "parks",
            "programmes",
            "complain",
            "mydata",
            "delete",
        ],
        list[str],
    ]
    languages: dict[Literal["en", "ur", "roman"], list[str]]
    provinces: dict[str, str] = {}
    audiences: dict[Literal["freelancers", "startups", "citizens", "government"], list[str]] = {}
    who: dict[Literal["startup", "company", "other"], list[str]] = {}
    yes_no: dict[Literal["yes", "no"], list[str]] = {}
    # Non-question intents (knowledge/intents.py): phrases that ask for a complaint's status, words that may stand
    # around a language's name in a request to switch to it, goodbyes and thanks, small talk, and described
    # grievances (a complaint told as a story: "money deducted but no stamp").
    status_phrases: list[str] = []
    # Words that by themselves ask how a matter stands ("any update?", "kya update hai"): a short message of these
    # and question or filler words asks for the citizen's complaints.
    status_words: list[str] = []
    language_requests: list[str] = []
    reply_verbs: list[str] = []  # "answer", "likho", "جواب": with one of these, a few other words may stand around
    # Words that point back at the last question's subject ("iski fees", "its size", "وہاں"): read in its context.
    referring_words: list[str] = []
    closings: list[str] = []
    smalltalk: list[str] = []
    grievances: list[str] = []
    # A grievance told without a set phrase: "nobody" and "nothing" words that a negation follows ("koi jawab hi
    # nahi diya", "کچھ نہیں بنا"), and the words that open or offer a yes/no question ("kya", "ya abhi tak nahi"),
    # which make the same words a question instead.
    absence_words: list[str] = []
    alternative_words: list[str] = []
    question_openers: list[str] = []
    # Verbs of something owed to the writer (arrive, receive, reply, work, approve): negated next to a negation
    # ("stipend hasn't come", "jawab aya hi nahi", "فائل منظور نہیں ہوئی") they tell of a grievance.
    owed_verbs: list[str] = []
    # A grievance told as one's own story: first-person words, spans of time, and words that make a message a
    # question (knowledge/intents.py: a first-person statement of a negation or a span of time about a service).
    first_person: list[str] = []
    time_spans: list[str] = []
    # A grievance told as a story (knowledge/story.py)
    expectation_words: list[str] = []
    contrast_words: list[str] = []
    despite_words: list[str] = []
    still_words: list[str] = []
    since_words: list[str] = []
    blame_words: list[str] = []
    own_doing: list[str] = []
    stopped_words: list[str] = []
    duration_words: list[str] = []  # "for how long", "kab tak": with lasting_things, how long a benefit lasts
    lasting_things: list[str] = []
    waiting_words: list[str] = []
    who_words: list[str] = []  # a question for a person: never a bare topic to ask "which?" about (matcher.py)
    confirming_tags: list[str] = []  # "..., right?", "... hai na": a yes/no question (knowledge/yes_no.py)
    inclusion_words: list[str] = []
    obligation_words: list[str] = []
    existence_words: list[str] = []
    complaint_nouns: list[str] = []  # the writer's own complaint and what became of it: a status check (intents.py)
    outcome_words: list[str] = []
    # Money lost to a service (knowledge/losses.py): money words near a past verb of losing it, words that are a
    # denial by themselves ("nobody"), and conditionals that make such words a question about rules ("if").
    money_words: list[str] = []
    loss_verbs: list[str] = []
    denial_words: list[str] = []
    conditional_words: list[str] = []
    asking_words: list[str] = []
    # Numbers written as words, in any script: word -> value (multipliers are 100, 1000, 100000).
    number_words: dict[str, int] = {}
    # Words that ask rather than name ("where", "how many"): never counted as a fact an answer holds.
    question_words: list[str] = []
    # Facets a question may ask of one entry (knowledge/facets.py checks the entry gives it): phrases per facet.
    entry_facets: dict[Literal["size", "host", "date", "fee", "places", "site"], list[str]] = {}
    # Organisations and programmes the sources name (synonym ids): an entry holding all a question names wins.
    named_bodies: list[str] = []
    # Facets asked by words that stand apart: "when|kab + open|khulega" (each part's alternatives split by "|").
    facets_together: dict[str, list[str]] = {}


class TextsFile(Strict):
    """texts.yaml: every sentence the bot says that is not a knowledge-base answer, in English, Urdu and Roman
    Urdu."""

    texts: dict[str, LocalText]
    months: LocalText


Audience = Literal["freelancers", "startups", "citizens", "government"]


class Programme(Strict):
    """The programme finder's tags for one entry; `basis` quotes the source wording behind them."""

    entry: str
    name: LocalText
    provinces: list[str] = []
    audiences: list[Audience] = []
    basis: str = Field(min_length=1)


class ProgrammesFile(Strict):
    programmes: list[Programme]


class CityClass(Strict):
    """A city's class for the fee exemption, only ever with a source that says so."""

    place: str
    class_: Literal["underserved", "secondary", "major"] = Field(alias="class")
    source: str


class CityClassesFile(Strict):
    cities: list[CityClass] = []


class ServiceValue(Strict):
    key: str = Field(pattern=ID_PATTERN)
    name: LocalText


class ServiceQuestion(Strict):
    """An extra question the complaint flow asks for one service (Open311 calls these attributes)."""

    key: str = Field(pattern=ID_PATTERN)
    prompt: LocalText
    datatype: Literal["string", "text", "singlevaluelist", "number"] = "string"
    required: bool = False
    values: list[ServiceValue] = []


class Service(Strict):
    """A kind of complaint the bot takes."""

    code: str = Field(pattern=ID_PATTERN)
    name: LocalText
    description: LocalText
    agency: str
    keywords: list[str] = []
    questions: list[ServiceQuestion] = []


class ServicesFile(Strict):
    services: list[Service] = Field(min_length=1)


class Calibration(Strict):
    """calibration.yaml: the matcher's decision thresholds, chosen on labelled data by benchmarks/calibrate.py
    (answer / "did you mean" / decline), not set by hand for particular questions."""

    answer_threshold: float = Field(default=0.5, ge=0, le=2)  # score at which the best entry is answered
    answer_margin: float = Field(default=0.06, ge=0, le=1)  # ...when this far ahead of the next entry
    full_coverage: float = Field(default=0.8, ge=0, le=1)  # or when the message holds this much of a variant
    clarify_threshold: float = Field(default=0.3, ge=0, le=2)  # below it nothing is close enough to offer
    clarify_window: float = Field(default=0.12, ge=0, le=1)  # entries this close to the best are offered
    long_margin_ratio: float = Field(default=0.9, ge=0, le=1)  # long messages: runner-up below this share of best
    answer_weight: float = Field(default=0.75, ge=0, le=2)  # an answer holding the whole message scores this
    answer_bonus: float = Field(default=0.1, ge=0, le=1)  # ...and this much is added for it to a variant's score
    answer_words: float = Field(default=0.0, ge=0, le=1)  # weight of the answer's share of the message's words
    min_precision: float = Field(default=0.3, ge=0, le=1)  # below it an entry explains too little of the message
    bodies_window: float = Field(default=0.0, ge=0, le=1)  # a candidate this close holding every body named wins


class Phrases(Strict):
    """Words a citizen types for one thing, in each language (normalised like questions when read)."""

    en: list[str] = Field(min_length=1)
    roman: list[str] = Field(min_length=1)
    ur: list[str] = Field(min_length=1)


class HandoverWords(Strict):
    """`phrases` count anywhere in a short message; `alone` only as the whole message."""

    phrases: Phrases
    alone: Phrases


class HandoverFile(Strict):
    """handover.yaml: how citizens ask for a member of staff (`person`) and for the bot back (`back`)."""

    person: HandoverWords
    back: HandoverWords
