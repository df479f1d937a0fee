"""Deciding what a read message is: answer, "did you mean" or decline, from the ranked candidates; and the checks
made after, which change an entry chosen or decline it for a facet. A mixin of the Matcher (matcher.py), which holds
the tables these read (its knowledge base, calibration, vocabulary, entries' words and facets); kept apart so the
reading and the deciding are each a file one can hold in mind.
"""

from __future__ import annotations

from dataclasses import replace

from knowledge.facets import ENTRY_CHECKED
from knowledge.match_types import Candidate, Match

FACET_PREFIX = "__facet_"
NARROW_WINDOW = 0.2  # a city's own park entry this close to the best wins when the city is named
LONG_NARROW_WINDOW = 0.05
LONG_MESSAGE_WORDS = 8  # content words beyond which a message is read as "long"
WHERE = "where"  # the lexicon's concept for "where", "kahan", "کہاں"
WHERE_FACETS = frozenset({"site", "places"})
BARE_TOPIC_WORDS = 2  # a topic word and at most a question word: "park kahan hai"
BARE_TOPIC_ENTRIES = 4  # entries whose questions hold the word, for it to be a topic rather than a name
BODIES_NAMED = 1  # organisations or programmes named, for an entry holding them all to be preferred
NARROW_MIN_WORDS = 3  # known words a message needs before the words it holds tell a "did you mean"'s options apart
FACET_MAX_WORDS = 12  # "phone number" etc. decline only in a message that is about them
UNSAID_FACET = "detail"  # what the decline classifier finds asked: a point the sources leave unsaid
PLACE_MASK, NAME_MASK = "PLACE", "NAME"  # what the classifier sees instead of a place or a name


class Decisions:
    """The Matcher's decisions (a mixin: `self` is the Matcher)."""

    def _complaints_as_a_subject(self, tokens: list[str], meaningful: set[str]) -> bool:
        """ "which project in the PITB-KPITB list is about complaints": a question (it opens with a question word)
        about a named organisation or programme, in nobody's own words, asks about complaint handling as a subject;
        "which office do I complain to" and "meri shikayat" are the writer's own."""
        opens_asking = bool(tokens) and (tokens[0] in self.intents.asking or tokens[0] in self.intents.openers)
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
                intent = self._answer_intent(candidate.entry_id)
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
        intent = self._answer_intent(chosen.entry_id)
        return replace(decided, intent=intent, entry_id=chosen.entry_id, score=chosen.score, low_confidence=True)

    def _answer_intent(self, entry_id: str) -> str:
        """Answering an entry: "answer", or "out_of_scope" for an entry written to say what the sources do not cover."""
        return "out_of_scope" if self.kb.entries[entry_id].declines else "answer"

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

    def masked(self, tokens: list[str]) -> list[str]:
        """A message's folded tokens with places and names masked: the decline classifier (trained on these by
        benchmarks/train_decline.py) learns how people ask, not which park they ask about."""
        return [
            PLACE_MASK if t in self.places else NAME_MASK if t in self.named_bodies or t in self.person_names else t
            for t in tokens
        ]

    def unsaid_may_apply(self, decided: Match, content: list[str]) -> bool:
        """Whether the decline classifier may turn this match into a decline: an answer from an entry that does not
        hold every word the question uses ("which companies get the one year fee exemption" is wholly the
        exemption entry's, however much "which companies" sounds like an unsaid count)."""
        if decided.intent != "answer" or decided.entry_id is None or decided.facet:
            return False
        held = self._holds(decided.entry_id)
        return not all(t in held for t in content)

    def _unsaid_checked(self, decided: Match, tokens: list[str], content: list[str]) -> Match:
        """An answer to a question the trained classifier reads as asking what the sources leave unsaid ("pindi stp
        me office lene ka tareeqa", "how much did the govt spend on the park") is declined: the entry's paragraph
        follows under a heading that says the sources do not give that (knowledge/decline_classifier.py)."""
        classifier = self.kb.decline_classifier
        if classifier is None or not self.unsaid_may_apply(decided, content):
            return decided
        if not classifier.unsaid(self.masked(tokens)):
            return decided
        return replace(decided, intent="decline", facet=UNSAID_FACET, near_domain=True)

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
            intent = self._answer_intent(top.entry_id)
            return replace(result, intent=intent, entry_id=top.entry_id)
        worth_offering = top.score >= self.cal.clarify_threshold and self._explains(top)
        if worth_offering or (long_message and top.coverage >= self.cal.full_coverage):
            close = tuple(c for c in candidates[:3] if c.score >= top.score - self.cal.clarify_window)
            if len(meaningful) == 1 and len(close) == 1:  # one word several entries hold ("registration?"): ask
                close = tuple(c for c in candidates[:3] if c.score >= self.cal.clarify_threshold)
            specific = self._most_specific(close, meaningful) or self._held_whole(close)
            if specific is not None:
                intent = self._answer_intent(specific.entry_id)
                return replace(result, intent=intent, entry_id=specific.entry_id, score=specific.score)
            if len(close) == 1:  # "did you mean" with one option helps nobody: answer it, and staff see it
                intent = self._answer_intent(top.entry_id)
                return replace(result, intent=intent, entry_id=top.entry_id, low_confidence=True, candidates=close)
            return replace(result, intent="clarify", candidates=close)
        return result

    def _best_of_close(self, decided: Match, content: list[str]) -> Match:
        """A "did you mean" that narrowing left, for a question that says enough (NARROW_MIN_WORDS words or more),
        answers its best reading at low confidence: staff see it, and the close readings are offered beside the
        answer. On the dev sets the first option of such a "did you mean" was most often what was asked;
        "registration?", "kahan hai" and "wo wala kitne ka hai" still ask which."""
        if decided.intent != "clarify" or len(decided.candidates) < 2 or len(set(content)) < NARROW_MIN_WORDS:
            return decided
        if all(t in self.places for t in content if t in self.idf):  # "chitral swat mansehra mein": which is theirs
            return decided
        top, *others = decided.candidates
        intent = self._answer_intent(top.entry_id)
        alternatives = tuple(c.entry_id for c in others)
        return replace(
            decided,
            intent=intent,
            entry_id=top.entry_id,
            score=top.score,
            low_confidence=True,
            alternatives=alternatives,
        )

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
