"""Question matching: which knowledge-base entry answers a message, or why none does.

How it scores. Every question variant and the message go through the same normalisation (normalize.py),
with the message's typos corrected towards the knowledge base's own vocabulary (rapidfuzz). A variant's
score mixes three things:
  * coverage: how much of the variant's meaning (IDF-weighted words) the message contains;
  * precision: how much of the message the variant explains, so extra unknown words ("weather in
    Faisalabad") pull the score down;
  * a character-level rapidfuzz ratio over the sorted words, for what tokenising missed.
Coverage and precision together guard against rapidfuzz's known false positives: a one-word query, or a
query whose words are a subset of a long variant, scores 100 on token_set_ratio but poorly here.
The best entry is answered only when it is clearly ahead; close runners-up become a "did you mean".
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache

from rapidfuzz import fuzz, process

from knowledge.answer_index import AnswerIndex, named_words
from knowledge.answer_words import AnswerWords
from knowledge.catch_all import yield_to_answers
from knowledge.deciding import FACET_PREFIX, Decisions
from knowledge.facets import FacetReader
from knowledge.intents import IntentReader
from knowledge.loader import KnowledgeBase
from knowledge.match_types import Candidate, Match
from knowledge.negation import asides_denied, denied_positions
from knowledge.normalize import PhraseFolder, normalize_chars, script_of
from knowledge.numbers import park_figures, read_numbers
from knowledge.reading import FOLLOWUP_MAX_WORDS, MessageReader, Reading
from knowledge.schema import Calibration
from knowledge.yes_no import YesNoReader

GREETING = "__greet"
CLOSING = "__close"
COMPLAINT = "complaint"

PERSON_PREFIX = "person_"  # entries about one person (people.yaml)
PERSON_NAME_ENTRIES = 12  # entries whose answers may hold a person's name (a role word is in more)
MAX_TOKENS = 80
# Readings are kept for short messages only, and for so many of them: a kept reading costs tens of kilobytes, and
# citizens can send any number of distinct long messages (issue 20, finding 12). Common questions are short.
MATCH_CACHE_SIZE = 2048
CACHED_TEXT_CHARS = 200
TYPO_MIN_LENGTH = 5
TYPO_CUTOFF = 80.0
TYPO_CUTOFF_SHORT = 85.0
RERANK = 40
CONCEPT_WEIGHT = 1.5
# English endings tried off an unknown word, in order ("ceremonies" -> "ceremony", "hosted" -> "host").
_INFLECTIONS = (("ies", "y"), ("ied", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"))
ANSWER_LANGUAGES = ("en", "ur", "roman")
_YEAR = re.compile(r"(19|20)\d\d")


@dataclass
class Analysis:
    """A message as the matcher reads it."""

    language: str  # en | roman | ur
    tokens: list[str]  # folded, stopwords included
    content: list[str]  # folded, without stopwords, greetings and facets
    denied: frozenset[str] = frozenset()  # what the message denies being ("not a startup"): not in `content`

    @property
    def normalized(self) -> str:
        return " ".join(self.tokens)


@dataclass
class _Variant:
    entry_id: str
    content: frozenset[str]
    text: str
    norm: float


class Matcher(Decisions):
    """Built once per knowledge base (at start-up); `match` is then pure CPU on in-memory tables."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.cal = kb.calibration
        lex = kb.lexicon
        groups: list[tuple[str, list[str]]] = list(lex.synonyms.items())
        for place in kb.places.values():
            groups.append((place.id, [place.name.en, place.name.ur, *place.aliases]))
        groups.append((GREETING, [*lex.greetings, *lex.smalltalk]))
        groups.append((CLOSING, list(lex.closings)))
        groups.append((COMPLAINT, list(lex.complaint_phrases)))
        for facet, words in lex.unsupported_facets.items():
            groups.append((FACET_PREFIX + facet, list(words)))
        self.folder, self.conflicts = PhraseFolder.build(lex.spellings, groups)
        self.number_words = {normalize_chars(word): value for word, value in lex.number_words.items()}
        self.intents = IntentReader(lex, self.about_us)
        self.referring_words = {normalize_chars(w) for w in lex.referring_words}
        self.concepts = set(self.folder.phrases.values())
        self.facets = FacetReader(kb)
        self.who_words = {t for w in lex.who_words for t in self._fold(normalize_chars(w).split())}
        self.yes_no = YesNoReader(lex, self._holds)
        self.stopwords = {self.folder.spellings.get(w, w) for w in map(normalize_chars, lex.stopwords) if w}
        self.roman_markers = {normalize_chars(w) for w in lex.roman_markers}
        self.places = set(kb.places)
        self.named_bodies = frozenset(lex.named_bodies)
        self.declining = frozenset(e.id for e in kb.entries.values() if e.declines)
        self.places_with_parks = kb.places_with_parks()
        self._park_entries = {f"park_{p}" for p in self.places_with_parks}
        self.figure_places = park_figures(kb.parks)

        vocabulary: set[str] = set(self.stopwords)
        for canonical, variants in groups:
            if canonical.startswith(FACET_PREFIX):
                continue  # a facet is asked in so many words: "helping" is not a typo of "helpline"
            for variant in variants:
                vocabulary.update(self.folder.fold_spellings(normalize_chars(variant).split()))
        self.domain_words = {t for w in lex.domain_words for t in self._fold(normalize_chars(w).split())}

        self.variants: list[_Variant] = []
        entry_tokens: dict[str, set[str]] = defaultdict(set)
        raw_variants: list[tuple[str, list[str]]] = []
        for entry in kb.entries.values():
            for _, question in entry.questions.all():
                raw = self.folder.fold_spellings(normalize_chars(question).split())
                vocabulary.update(raw)
                content = self._content(self.folder.fold_phrases(raw))
                if content:
                    raw_variants.append((entry.id, content))
                    entry_tokens[entry.id].update(content)
        self.question_words = {t for w in lex.question_words for t in self._fold(normalize_chars(w).split())}
        self.answers = AnswerIndex(
            ((e.id, [e.answer.get(lang) for lang in ANSWER_LANGUAGES]) for e in kb.entries.values()),
            self._naming_words,
        )
        self.answer_words = AnswerWords(
            ((e.id, [e.answer.get(lang) for lang in ANSWER_LANGUAGES]) for e in kb.entries.values()),
            lambda text: self._content(self._fold(normalize_chars(text).split())),
        )
        vocabulary |= self.answers.vocabulary()  # names in answers are what typos are corrected towards, too
        self.facet_words = {
            t for words in lex.entry_facets.values() for w in words for t in self._fold(normalize_chars(w).split())
        } - self.stopwords
        self.vocabulary = vocabulary
        # Typo candidates by script and length: a word can only be a typo of one of similar length.
        self._vocab_by_length: dict[tuple[str, int], list[str]] = defaultdict(list)
        for token in sorted(vocabulary):
            if len(token) >= 3:
                self._vocab_by_length[(script_of(token), len(token))].append(token)
        self._corrections: dict[str, str] = {}
        # The words of facets no source gives are not targets for typo correction ("helping" is not "helpline"),
        # but they are words the bot knows: "address" must stay "address", not become "addressed".
        # Every word the answers use is a real word ("infrastructure", "focal"), never a typo of a name in them
        # ("restructure"): only words the knowledge base never uses are corrected.
        self.prose_words = {
            t
            for e in kb.entries.values()
            for lang in ANSWER_LANGUAGES
            for t in self.folder.fold_spellings(normalize_chars(e.answer.get(lang)).split())
        }
        self.facet_phrase_words = {
            w for words in lex.unsupported_facets.values() for phrase in words for w in normalize_chars(phrase).split()
        }

        df: dict[str, int] = defaultdict(int)
        for tokens in entry_tokens.values():
            for token in tokens:
                df[token] += 1
        n = max(len(entry_tokens), 1)
        # Words the lexicon names (organisations, services, places) are what tells entries apart; plain
        # words that happen to be rare in a small knowledge base ("included", "when") count for less.
        concepts = self.concepts
        self.idf = {
            token: math.log(1 + n / count) * (CONCEPT_WEIGHT if token in concepts else 1.0)
            for token, count in df.items()
        }
        self.unknown_idf = math.log(1 + n / 0.5)
        self.known_tokens = set(df) | self.domain_words | self.answers.vocabulary()
        # What a grievance must be about to be a complaint here: the domain's own words, the services it knows, or a
        # figure the sources give ("I paid 5000"), not a year.
        figures = {t for t in self.answers.vocabulary() if t.isdigit() and int(t) >= 100 and not _YEAR.fullmatch(t)}
        # A programme's name up to "for" or "(" names the thing ("Fee exemption" for underserved cities).
        heads = (re.split(r" for |\(", name)[0] for p in kb.programmes for name in (p.name.en, p.name.roman))
        named = {t for head in heads for t in self._fold(normalize_chars(head).split())}
        services = named & self.concepts  # "E-Stamping", "Citizen Facilitation Centres": the programme finder's names
        self.subjects = ((self.domain_words | services | self.named_bodies) - self.stopwords - self.places) | figures
        self.entry_tokens = {entry_id: frozenset(tokens) for entry_id, tokens in entry_tokens.items()}
        # What an entry is about: the words of its first English question ("pseb registration fee for startups")
        self.defining = {
            e.id: frozenset(self._content(self._fold(normalize_chars(e.questions.en[0]).split())))
            for e in kb.entries.values()
        }
        # People's names: an entry about one person is named for them (person_osman_nasir); in Urdu script, the
        # words of its first Urdu question ("عثمان ناصر کون ہیں")
        persons = [entry for entry in kb.entries.values() if entry.id.startswith(PERSON_PREFIX)]
        urdu = [
            set(self._content(self._fold(normalize_chars(entry.questions.ur[0]).split()))) - self.question_words
            for entry in persons
        ]
        said_of = Counter(t for words in urdu for t in words)  # "وزیر" (minister) is said of several people
        self.person_names = frozenset(t for entry in persons for t in entry.id.removeprefix(PERSON_PREFIX).split("_"))
        self._urdu_names = {t for words in urdu for t in words if said_of[t] == 1 and t not in self.who_words}
        # What names a subject: places, bodies, the domain's subjects, and the Latin words answers write with a
        # capital (people, buildings); Urdu script has no capitals to tell a name by.
        written_as_names = {t for t in self.answers.idf if script_of(t) == "latin" and not t.isdigit()}
        self.names = frozenset(self.places | self.named_bodies | self.subjects | written_as_names) - self.stopwords
        self._match_cached = lru_cache(maxsize=MATCH_CACHE_SIZE)(self.read)
        self.reader = MessageReader(self)
        self._understood = lru_cache(maxsize=MATCH_CACHE_SIZE)(self.reader.read)

        self.postings: dict[str, list[int]] = defaultdict(list)
        for entry_id, content in raw_variants:
            unique = frozenset(content)
            index = len(self.variants)
            self.variants.append(
                _Variant(entry_id, unique, " ".join(sorted(unique)), math.sqrt(sum(self.idf[t] ** 2 for t in unique)))
            )
            for token in unique:
                self.postings[token].append(index)
        # A name is rare: a word in many entries' answers ("اعلی", chief) is a role
        self.person_names |= frozenset(
            t
            for t in self._urdu_names
            if t not in self.places
            and t not in self.concepts
            and t not in self.named_bodies
            and len(self.answers.postings.get(t, ())) <= PERSON_NAME_ENTRIES
        )

    # -- reading a message ---------------------------------------------------------------------------

    def _fold(self, tokens: list[str]) -> list[str]:
        return self.folder.fold_phrases(self.folder.fold_spellings(tokens))

    def _content(self, folded: list[str]) -> list[str]:
        """The words that carry meaning: no stopwords, greetings or goodbyes (a facet asked is meaning)."""
        return [t for t in folded if t not in self.stopwords and t not in (GREETING, CLOSING)]

    def _correct(self, token: str) -> str:
        """The knowledge base's own spelling of a mistyped word, or the word itself."""
        if (
            token in self.vocabulary
            or token in self.facet_phrase_words
            or token in self.prose_words
            or len(token) < TYPO_MIN_LENGTH
            or token.isdigit()
        ):
            return token
        cached = self._corrections.get(token)
        if cached is not None:
            return cached
        inflected = self._uninflected(token)
        if inflected is not None:
            return inflected
        script, size = script_of(token), len(token)
        # fuzz.ratio >= 80 is impossible between words whose lengths differ by more than a third.
        choices = [
            word
            for length in range(max(3, (2 * size) // 3), (3 * size) // 2 + 1)
            for word in self._vocab_by_length.get((script, length), ())
        ]
        # One wrong letter in a five-letter word is too much ("india" is not "pindi").
        cutoff = TYPO_CUTOFF if size >= 7 else TYPO_CUTOFF_SHORT
        best = process.extractOne(token, choices, scorer=fuzz.ratio, score_cutoff=cutoff)
        corrected = best[0] if best else token
        if len(self._corrections) < 50_000:
            self._corrections[token] = corrected
        return corrected

    def _uninflected(self, token: str) -> str | None:
        """An English word the knowledge base knows in another form: "ceremonies", "hosted", "chairs", "signing"
        (a plural or a verb's ending taken off), before any guess at a typo."""
        for suffix, ending in _INFLECTIONS:
            if token.endswith(suffix) and len(token) - len(suffix) >= 3:
                stem = token[: len(token) - len(suffix)] + ending
                if stem in self.vocabulary:
                    return stem
        return None

    def _language(self, text: str, tokens: list[str]) -> str:
        if script_of(text) == "ur":
            return "ur"
        markers = sum(1 for t in tokens if t in self.roman_markers)
        if markers >= 2 or (markers == 1 and len(tokens) <= 4):
            return "roman"
        return "en"

    def _naming_words(self, text: str) -> list[str]:
        """The words of an answer that name something: concepts and places the lexicon knows, words written with a
        capital or a digit (people, organisations, buildings, figures), and in Urdu script (no capitals) every word;
        so that "whether" or "reported" in a sentence does not make an answer look like a match for "weather", and
        a question word ("where", "how many") is never a fact an answer holds."""
        folded = self._content(self._fold(normalize_chars(text).split()))
        named = set(self._fold(normalize_chars(named_words(text)).split()))
        concepts = self.concepts | self.places
        return [t for t in folded if (t in concepts or t in named) and t not in self.question_words]

    def language_of(self, text: str) -> str | None:
        """The language a message is written in when that is clear: Urdu script, Roman Urdu (its marker words) or
        English (several words, none of them Roman Urdu); None for a digit, an option's label, "ok" or "stp?"."""
        if script_of(text) == "ur":
            return "ur"
        words = [w for w in normalize_chars(text[:2000]).split() if not w.isdigit()]
        markers = sum(1 for w in words if w in self.roman_markers)
        if markers >= 2 or (markers == 1 and 2 <= len(words) <= 4):
            return "roman"
        if markers == 0 and len(words) >= 3:
            return "en"
        return None

    def analyse(self, text: str) -> Analysis:
        chars = normalize_chars(text[: MAX_TOKENS * 40])
        raw = read_numbers(chars.split()[:MAX_TOKENS], self.number_words)
        spelled = self.folder.fold_spellings(raw)
        folded = self.folder.fold_phrases([self._correct(t) for t in spelled])
        # "a normal IT company (not a startup)": what the message denies being is not what it asks about
        denied = denied_positions(folded, set(self._fold(asides_denied(text))))
        meant = [t for at, t in enumerate(folded) if at not in denied]
        return Analysis(
            language=self._language(text, raw),
            tokens=folded,
            content=self._content(meant),
            denied=frozenset(folded[at] for at in denied) - self.stopwords,
        )

    def about_us(self, text: str) -> bool:
        """Whether a message names something of the domain (a service, an organisation, a figure the sources give),
        or a complaint itself: what makes a grievance one this bot takes."""
        content = set(self.analyse(text).content)
        return COMPLAINT in content or bool(content & self.subjects)

    def is_facet(self, token: str) -> bool:
        """Whether a folded token is a facet no source gives ("phone number"): asking it is meaning too."""
        return token.startswith(FACET_PREFIX)

    def places_in(self, text: str) -> list[str]:
        """Place ids named in `text`, in order ("stp in fsd" -> ["faisalabad"])."""
        return list(dict.fromkeys(t for t in self.analyse(text).tokens if t in self.places))

    def provinces_in(self, text: str) -> list[str]:
        """Provinces named in `text`, as places.yaml spells them ("KP" -> "Khyber Pakhtunkhwa")."""
        provinces = self.kb.lexicon.provinces
        return list(dict.fromkeys(provinces[t] for t in self.analyse(text).tokens if t in provinces))

    # -- scoring ---------------------------------------------------------------------------------------

    def rank(self, content: list[str], limit: int = 8) -> list[Candidate]:
        """Entries ordered by their best variant's score for these content words.

        The score is the cosine of IDF-weighted word vectors (which balances how much of the variant the
        message covers against how much of the message the variant explains), plus a small
        character-level rapidfuzz term. `coverage` is the share of the variant's weight that is matched.
        """
        query = set(content)
        if not query:
            return []
        query_norm = math.sqrt(sum(self.idf.get(t, self.unknown_idf) ** 2 for t in sorted(query)))
        dots: dict[int, float] = defaultdict(float)
        for token in sorted(query):  # a fixed order: the same sums, to the last bit, in every process
            idf = self.idf.get(token)
            if idf is None:
                continue
            for index in self.postings.get(token, ()):
                dots[index] += idf * idf
        held = self.answers.recall(query - self.facet_words - self.question_words)  # asked of an answer, not held
        if not dots and not held:
            return []
        variants = self.variants
        rough = heapq.nlargest(RERANK, ((dot / (query_norm * variants[i].norm), i) for i, dot in dots.items()))
        query_text = " ".join(sorted(query))
        best: dict[str, Candidate] = {}
        for cosine, index in rough:
            variant = variants[index]
            score = 0.9 * cosine + 0.1 * fuzz.ratio(query_text, variant.text) / 100
            current = best.get(variant.entry_id)
            if current is None or score > current.score:
                coverage = dots[index] / (variant.norm * variant.norm)
                precision = dots[index] / (query_norm * query_norm)
                place_only = (query & variant.content) <= self.places
                best[variant.entry_id] = Candidate(
                    variant.entry_id,
                    round(score, 4),
                    round(coverage, 4),
                    place_only,
                    round(precision, 4),
                    len(query & variant.content),
                )
        for entry_id, share in held.items():
            # An answer that holds the message's words backs up a variant, and stands in where none matches; of
            # entries whose answers hold it all, those whose own questions match too come first.
            current = best.get(entry_id)
            variant_score = current.score if current else 0.0
            if current is None or self.cal.answer_weight * share > current.score:
                # coverage stays the variant's: how much of one of the entry's own questions the message holds
                coverage = current.coverage if current else 0.0
                current = Candidate(entry_id, self.cal.answer_weight * share, coverage, False, share)
            precision = max(current.precision, share)
            score = round(current.score + self.cal.answer_bonus * (share + variant_score) / 2, 4)
            best[entry_id] = replace(current, score=score, precision=round(precision, 4))
        ranked = sorted(best.values(), key=lambda c: (-c.score, c.entry_id))  # ties in a fixed order
        ranked = self.answer_words.boost(ranked, query - self.question_words, self.cal.answer_words)
        return yield_to_answers(ranked, self.declining)[:limit]

    def recalibrate(self, calibration: Calibration) -> None:
        """New decision thresholds (benchmarks/calibrate.py); readings made with the old ones are forgotten."""
        self.cal = calibration
        self.forget()

    def forget(self) -> None:
        """Empty the caches of message readings (benchmarks time the reading itself)."""
        self._match_cached.cache_clear()
        self._understood.cache_clear()

    def match(self, text: str) -> Match:
        """The best reading of `text`; the same short text is read once (common questions arrive over and over)."""
        if len(text) > CACHED_TEXT_CHARS:
            return self.read(text)
        return self._match_cached(text)

    def read(self, text: str) -> Match:
        """The reading itself, uncached (what `match` caches; benchmarks time this)."""
        analysis = self.analyse(text)
        tokens, content = analysis.tokens, analysis.content
        result = Match(intent="out_of_scope", language=analysis.language, normalized=analysis.normalized)
        meaningful = set(content)

        if COMPLAINT in meaningful and not self._complaints_as_a_subject(tokens, meaningful):
            return replace(result, intent="complaint_start")
        candidates = self.rank(content)
        if analysis.denied:  # "we are not a startup, what is the fee": never the entry about startups
            candidates = [c for c in candidates if not analysis.denied & self.defining[c.entry_id]]
        short = len(content) <= FOLLOWUP_MAX_WORDS  # "hi, I am a student in Faisalabad ... which park?" asks
        names = meaningful & (self.names | self.concepts)
        if (CLOSING in tokens or GREETING in tokens) and short and not (names and self._answerable(candidates)):
            # "shukriya", "thanks bye", "hi", "bhai kaise ho yar sab khair", "thanks, that helped": a goodbye or a
            # greeting, and nothing the knowledge base would answer about something it names ("thanks, and the Swat
            # park?" is a question)
            return replace(result, intent="closing" if CLOSING in tokens else "greeting")
        result = replace(result, candidates=tuple(candidates), near_domain=bool(meaningful & self.known_tokens))
        # The decision, then the checks that may change it, in order (knowledge/deciding.py)
        decided = self._decide(result, content)
        decided = self._holding_bodies(decided, content)
        decided = self._narrowed(decided, text, content)
        decided = self._best_of_close(decided, content)
        decided = self._facet_checked(decided, text, tokens, content)
        decided = self._unsaid_checked(decided, tokens, content)
        if decided.intent == "answer" and decided.entry_id and not (decided.low_confidence or decided.facet):
            decided = replace(decided, confirmed=self.yes_no.confirms(text, decided.entry_id, content))
        if decided.intent == "answer" and decided.entry_id in self._park_entries:
            others = [f"park_{p}" for p in dict.fromkeys(content) if p in self.places_with_parks]
            decided = replace(decided, also=tuple(e for e in others if e != decided.entry_id)[:2])
        return decided

    # -- a whole message (knowledge/reading.py) ------------------------------------------------------------

    def understand(self, text: str, previous: str | None = None, previous_entry: str | None = None) -> Reading:
        """Everything a free-text message is read as (the same message in the same context is read once: common
        questions arrive over and over; a long message is read afresh)."""
        if len(text) > CACHED_TEXT_CHARS:
            return self.reader.read(text, previous, previous_entry)
        return self._understood(text, previous, previous_entry)
