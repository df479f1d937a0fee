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
from knowledge.facets import ENTRY_CHECKED, FacetReader
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
FACET_PREFIX = "__facet_"
COMPLAINT = "complaint"

NARROW_WINDOW = 0.2  # a city's own park entry this close to the best wins when the city is named
LONG_NARROW_WINDOW = 0.05
LONG_MESSAGE_WORDS = 8  # content words beyond which a message is read as "long"
WHERE = "where"  # the lexicon's concept for "where", "kahan", "کہاں"
WHERE_FACETS = frozenset({"site", "places"})
BARE_TOPIC_WORDS = 2  # a topic word and at most a question word: "park kahan hai"
BARE_TOPIC_ENTRIES = 4  # entries whose questions hold the word, for it to be a topic rather than a name
PERSON_PREFIX = "person_"  # entries about one person (people.yaml)
PERSON_NAME_ENTRIES = 12  # entries whose answers may hold a person's name (a role word is in more)
BODIES_NAMED = 1  # organisations or programmes named, for an entry holding them all to be preferred
NARROW_MIN_WORDS = 3  # known words a message needs before the words it holds tell a "did you mean"'s options apart
FACET_MAX_WORDS = 12  # "phone number" etc. decline only in a message that is about them
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

    @property
    def normalized(self) -> str:
        return " ".join(self.tokens)


@dataclass
class _Variant:
    entry_id: str
    content: frozenset[str]
    text: str
    norm: float


class Matcher:
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
        self.subjects = ((self.domain_words | services) - self.stopwords - self.places) | figures
        self.entry_tokens = {entry_id: frozenset(tokens) for entry_id, tokens in entry_tokens.items()}
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
        return Analysis(language=self._language(text, raw), tokens=folded, content=self._content(meant))

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
        short = len(content) <= FOLLOWUP_MAX_WORDS  # "hi, I am a student in Faisalabad ... which park?" asks
        names = meaningful & (self.names | self.concepts)
        if (CLOSING in tokens or GREETING in tokens) and short and not (names and self._answerable(candidates)):
            # "shukriya", "thanks bye", "hi", "bhai kaise ho yar sab khair", "thanks, that helped": a goodbye or a
            # greeting, and nothing the knowledge base would answer about something it names ("thanks, and the Swat
            # park?" is a question)
            return replace(result, intent="closing" if CLOSING in tokens else "greeting")
        result = replace(result, candidates=tuple(candidates), near_domain=bool(meaningful & self.known_tokens))
        decided = self._facet_checked(
            self._narrowed(self._holding_bodies(self._decide(result, content), content), text, content),
            text,
            tokens,
            content,
        )
        if decided.intent == "answer" and decided.entry_id and not (decided.low_confidence or decided.facet):
            decided = replace(decided, confirmed=self.yes_no.confirms(text, decided.entry_id, content))
        if decided.intent == "answer" and decided.entry_id in self._park_entries:
            others = [f"park_{p}" for p in dict.fromkeys(content) if p in self.places_with_parks]
            decided = replace(decided, also=tuple(e for e in others if e != decided.entry_id)[:2])
        return decided

    def _complaints_as_a_subject(self, tokens: list[str], meaningful: set[str]) -> bool:
        """ "which project in the PITB-KPITB list is about complaints": a question (it opens with a question word)
        about a named organisation or programme, in nobody's own words, asks about complaint handling as a subject;
        "which office do I complain to" and "meri shikayat" are the writer's own."""
        opens_asking = bool(tokens) and tokens[0] in self.intents.asking
        own = any(t in self.intents.first_person for t in tokens)
        return opens_asking and not own and bool(meaningful & self.named_bodies)

    def _holding_bodies(self, decided: Match, content: list[str]) -> Match:
        """An answer about the organisations, programmes and people the question names: when a close candidate's
        questions or answer hold them all while the chosen entry does not, that one answers ("what does PITB want
        Punjab to become" is PITB's, not the Punjab parks' list; "is Osman Nasir KPITB's chairman" is about him)."""
        named = {t for t in content if t in self.named_bodies or t in self.person_names}
        if decided.intent != "answer" or decided.entry_id is None or len(named) < BODIES_NAMED:
            return decided

        def held(entry_id: str) -> int:
            return len(
                named & (self.entry_tokens.get(entry_id, frozenset()) | self.answers.tokens.get(entry_id, frozenset()))
            )

        if held(decided.entry_id) == len(named):
            return decided
        floor = decided.score - self.cal.bodies_window
        for candidate in decided.candidates:
            if candidate.score >= floor and held(candidate.entry_id) == len(named):
                intent = "out_of_scope" if self.kb.entries[candidate.entry_id].declines else "answer"
                return replace(decided, intent=intent, entry_id=candidate.entry_id, score=candidate.score)
        return decided

    def _narrowed(self, decided: Match, text: str, content: list[str]) -> Match:
        """A "did you mean" between entries of which only one fits what the question itself says is that one's
        answer: the one holding every organisation or programme it names, then the one whose questions and answer
        hold the most of the message's words (IDF-weighted), then the one giving the facet it asks (where, when);
        of several that fit, the best when it is clearly ahead of the others that fit. Staff still see it among
        low-confidence answers. A message of one or two words ("when was that signed") is left to the
        conversation's topic (reading.py)."""
        if decided.intent != "clarify" or len(decided.candidates) < 2:
            return decided
        named = {t for t in content if t in self.named_bodies}
        fitting = [c for c in decided.candidates if named <= self._holds(c.entry_id)] or list(decided.candidates)
        known = {t for t in content if t in self.idf}
        if len(known) >= NARROW_MIN_WORDS:
            held = {c.entry_id: sum(self.idf[t] for t in known & self._holds(c.entry_id)) for c in fitting}
            most = max(held.values())
            if sum(1 for weight in held.values() if weight == most) == 1:
                fitting = [c for c in fitting if held[c.entry_id] == most]
            elif all(known <= self._holds(c.entry_id) for c in fitting):
                fitting = fitting[:1]  # each holds all of it: any answers the question, so the best one does
        elif not named:
            return decided
        for facet in self.facets.asked(text):
            fitting = [c for c in fitting if self.facets.gives_own(c.entry_id, facet)] or fitting
        if len(fitting) == len(decided.candidates):
            return decided  # nothing the question says tells them apart
        chosen = fitting[0]
        if chosen.place_only or (len(fitting) > 1 and chosen.score - fitting[1].score < self.cal.answer_margin):
            return decided
        intent = "out_of_scope" if self.kb.entries[chosen.entry_id].declines else "answer"
        return replace(decided, intent=intent, entry_id=chosen.entry_id, score=chosen.score, low_confidence=True)

    def _holds(self, entry_id: str) -> frozenset[str]:
        return self.entry_tokens.get(entry_id, frozenset()) | self.answers.tokens.get(entry_id, frozenset())

    def _facet_checked(self, decided: Match, text: str, tokens: list[str], content: list[str]) -> Match:
        """A question about a facet the sources never give (a phone number, an opening date), or one its entry
        does not give (the size of a park whose size is not stated), is declined for that facet; the entry it is
        about, if any, is still given as what the sources do say."""
        entry_id = decided.entry_id if decided.intent == "answer" else None
        if entry_id is not None and self.facets.lasts(text, entry_id, tokens):
            return decided  # "for how long is the fee waived": the entry says how long, so it answers
        unsupported = [t[len(FACET_PREFIX) :] for t in tokens if t.startswith(FACET_PREFIX)]
        unsupported += [
            facet
            for facet in self.facets.asked_together(text)
            if not (facet in ENTRY_CHECKED and entry_id is not None and self.facets.gives(entry_id, facet))
        ]
        if unsupported and len(content) <= FACET_MAX_WORDS:
            return replace(decided, intent="decline", facet=unsupported[0], entry_id=entry_id, near_domain=True)
        if entry_id is not None:
            if decided.missing_place:
                return replace(decided, intent="decline")
            asked = self.facets.asked(text)
            if entry_id in self._park_entries and WHERE in tokens and "site" not in asked:
                # "where in Mardan will the park be": the city is known, the site is asked (not "is Mardan also on
                # the list", read after "where will the KP parks be")
                if not self.yes_no.asks_inclusion(text):
                    asked.append("site")
            for facet in asked:
                if not self.facets.gives(entry_id, facet):
                    giving = self._giving_instead(decided, facet, content)
                    if giving is not None:
                        return replace(decided, entry_id=giving.entry_id, score=giving.score, low_confidence=True)
                    return replace(decided, intent="decline", facet=facet)
        return decided

    def _giving_instead(self, decided: Match, facet: str, content: list[str]) -> Candidate | None:
        """A close candidate that gives the place asked and holds all the organisations or programmes named (two or
        more), when the chosen entry does not: "where was the KPITB-PITB MoU signed" is the MoU's, not KPITB's."""
        named = {t for t in content if t in self.named_bodies}
        if len(named) < 2 or facet not in WHERE_FACETS:
            return None  # one body, or a date or size: the overviews "give" every facet and would win
        floor = decided.score - self.cal.clarify_window
        for candidate in decided.candidates:
            if candidate.entry_id == decided.entry_id or candidate.score < floor or candidate.place_only:
                continue
            if candidate.entry_id in self.declining or not named <= self._holds(candidate.entry_id):
                continue
            if self.facets.gives_own(candidate.entry_id, facet):
                return candidate
        return None

    def _decide(self, result: Match, content: list[str]) -> Match:
        """Answer, "did you mean" or decline, from the ranked candidates."""
        candidates = list(result.candidates)
        meaningful = set(content)
        places = [t for t in content if t in self.places]
        # A park's own figure ("the 19,500 sq ft one") names its place as surely as the place's name does.
        by_figure = [self.figure_places[t] for t in content if t in self.figure_places]
        with_parks = list(dict.fromkeys([p for p in places if p in self.places_with_parks] + by_figure))
        asks_parks = bool(meaningful & {"stp", "park"})
        if places and not with_parks and asks_parks and "parks_overview" in self.kb.entries:
            return replace(result, intent="answer", entry_id="parks_overview", missing_place=places[0], score=1.0)
        if not candidates:
            return result

        known = [t for t in meaningful if t in self.idf]
        if known and all(t in self.places for t in known):
            # Only a place name is understood: "weather in Karachi" is not a question about its parks.
            if len(known) < len(meaningful):
                return result
            in_places = tuple(c for c in candidates if c.entry_id in {f"park_{p}" for p in places})[:3]
            if len(in_places) == 1:  # one place, one park entry: that is what was asked
                return replace(result, intent="answer", entry_id=in_places[0].entry_id, score=in_places[0].score)
            intent = "clarify" if in_places else "out_of_scope"
            return replace(result, intent=intent, score=candidates[0].score, candidates=in_places)

        bare = self._bare_topic(content, result.normalized.split())
        if bare is not None:
            close = tuple(
                c for c in candidates[:4] if bare in self._holds(c.entry_id) and c.entry_id not in self.declining
            )[:3]
            if len(close) >= 2:
                return replace(result, intent="clarify", score=close[0].score, candidates=close)

        top = candidates[0]
        narrowed = False
        long_message = len(content) > LONG_MESSAGE_WORDS
        about_parks = self.kb.entries[top.entry_id].topic == "parks"
        if with_parks and (about_parks or (asks_parks and not long_message)):
            # A named city narrows a park question to that city's parks; in a long message the city may
            # just be where the writer lives, so there it must already be nearly the best.
            city_entries = {f"park_{p}" for p in with_parks}
            window = LONG_NARROW_WINDOW if long_message else NARROW_WINDOW
            for candidate in candidates:
                if candidate.entry_id in city_entries and candidate.score >= top.score - window:
                    top, narrowed = candidate, True
                    break
        named_by_figure = narrowed and top.entry_id in {f"park_{p}" for p in by_figure}
        runner_up = max((c.score for c in candidates if c.entry_id != top.entry_id), default=0.0)
        result = replace(result, score=top.score)
        if len(meaningful) == 1 and not narrowed:
            # One word shared by several entries ("fee", "jobs") is ambiguous unless a variant is just that word.
            (word,) = meaningful
            shared = len({self.variants[i].entry_id for i in self.postings.get(word, ())}) > 1
            confident = (top.coverage >= 1.0 or not shared) and top.score - runner_up >= self.cal.answer_margin
            clear = confident
        elif long_message:
            # In a long message most words are context; what counts is that it holds most of one variant.
            confident = top.coverage >= self.cal.full_coverage
            clear = narrowed or runner_up <= top.score * self.cal.long_margin_ratio
        else:
            confident = (
                named_by_figure
                or top.score >= self.cal.answer_threshold
                or (
                    top.coverage >= self.cal.full_coverage
                    and top.score >= self.cal.clarify_threshold
                    and self._explains(top)
                )
            )
            clear = narrowed or top.score - runner_up >= self.cal.answer_margin
        if clear and confident and not top.place_only:
            intent = "out_of_scope" if self.kb.entries[top.entry_id].declines else "answer"
            return replace(result, intent=intent, entry_id=top.entry_id)
        worth_offering = top.score >= self.cal.clarify_threshold and self._explains(top)
        if worth_offering or (long_message and top.coverage >= self.cal.full_coverage):
            close = tuple(c for c in candidates[:3] if c.score >= top.score - self.cal.clarify_window)
            if len(meaningful) == 1 and len(close) == 1:  # one word several entries hold ("registration?"): ask
                close = tuple(c for c in candidates[:3] if c.score >= self.cal.clarify_threshold)
            specific = self._most_specific(close, meaningful) or self._held_whole(close)
            if specific is not None:
                intent = "out_of_scope" if self.kb.entries[specific.entry_id].declines else "answer"
                return replace(result, intent=intent, entry_id=specific.entry_id, score=specific.score)
            if len(close) == 1 and not top.place_only:  # "did you mean" with one option helps nobody: answer it
                intent = "out_of_scope" if self.kb.entries[top.entry_id].declines else "answer"
                return replace(result, intent=intent, entry_id=top.entry_id, low_confidence=True)
            return replace(result, intent="clarify", candidates=close)
        return result

    def _bare_topic(self, content: list[str], tokens: list[str]) -> str | None:
        """The one word of a message that names only a topic many entries share, with at most a question word:
        "MoU?", "park kahan hai", "registration". Which MoU or which park is for the user to say, so the best
        options are offered; a place, an organisation or a programme named alone is answered ("pseb?")."""
        words = [t for t in dict.fromkeys(content) if t not in self.question_words]
        if len(words) != 1 or len(content) > BARE_TOPIC_WORDS or set(tokens) & self.who_words:
            return None  # "who is the IT secretary" asks for a person, which the role names
        (word,) = words
        if word in self.places or word in self.named_bodies or self.is_facet(word):
            return None
        holders = {self.variants[i].entry_id for i in self.postings.get(word, ())}
        return word if len(holders) >= BARE_TOPIC_ENTRIES else None

    def _answerable(self, candidates: list[Candidate]) -> bool:
        top = candidates[0] if candidates else None
        return top is not None and top.score >= self.cal.answer_threshold and self._explains(top)

    def _explains(self, candidate: Candidate) -> bool:
        """Whether an entry explains enough of the message to be answered or offered on what it holds: most of its
        weight, or two of its words ("swat ... tech park" among news chatter; not "list" in "linked list python")."""
        return candidate.precision >= self.cal.min_precision or candidate.shared >= 2

    def _held_whole(self, close: tuple[Candidate, ...]) -> Candidate | None:
        """Of entries that read about equally well, the only one a question of which the message holds whole ("date
        of the PSEB KPITB MoU" holds the MoU entry's own question; the ceremony's only in part)."""
        whole = [c for c in close if c.coverage >= self.cal.full_coverage and self._explains(c) and not c.place_only]
        return whole[0] if len(close) >= 2 and len(whole) == 1 else None

    def _most_specific(self, close: tuple[Candidate, ...], words: set[str]) -> Candidate | None:
        """Of entries that read about equally well, the one whose own questions are about the rarest thing asked:
        "e-stamping under the PITB-KPITB MoU" is about E-Stamping (one item of the MoU), not the MoU as a whole."""
        if len(close) < 2:
            return None
        # Only a word some of them hold tells them apart ("dega" in "pitb kpitb ko kya support dega" tells nothing).
        held = set().union(*(self.entry_tokens.get(c.entry_id, frozenset()) for c in close))
        known = [t for t in words if t in self.idf and t in held]
        if not known:
            return None
        rarest = max(known, key=lambda t: (self.idf[t], t))
        holders = [c for c in close if rarest in self.entry_tokens.get(c.entry_id, ())]
        return holders[0] if len(holders) == 1 and not holders[0].place_only else None

    # -- a whole message (knowledge/reading.py) ------------------------------------------------------------

    def understand(self, text: str, previous: str | None = None, previous_entry: str | None = None) -> Reading:
        """Everything a free-text message is read as (the same message in the same context is read once: common
        questions arrive over and over; a long message is read afresh)."""
        if len(text) > CACHED_TEXT_CHARS:
            return self.reader.read(text, previous, previous_entry)
        return self._understood(text, previous, previous_entry)
