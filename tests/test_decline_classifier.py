"""The decline classifier (issue 18): a question about a known thing that asks what the sources leave unsaid is
declined for that, in words no facet list holds. Tested with small hand-written weights, so each test says what
the mechanism does whatever the shipped weights (benchmarks/train_decline.py) happen to be."""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import pytest

from bot.db import Database
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming
from knowledge.decline_classifier import DeclineClassifier
from knowledge.loader import CLASSIFIER_FILE, KnowledgeBase, KnowledgeError, load_knowledge
from knowledge.matcher import Matcher
from tests.conftest import make_dispatcher

ASKS_HOW_TO_GET = "tareeqa"  # the one word the hand-written classifier below reads as asking what is unsaid...


def classifier(words: dict[str, tuple[float, float]], intercept: float = -4.0) -> DeclineClassifier:
    return DeclineClassifier(
        trained_on=["hand-written"],
        threshold=0.5,
        intercept=intercept,
        words={"weights": words},
        chars={"weights": {}},
    )


@pytest.fixture(scope="module")
def knowledge_with(kb: KnowledgeBase, matcher: Matcher) -> tuple[KnowledgeBase, Matcher]:
    (folded,) = matcher.analyse(ASKS_HOW_TO_GET).tokens  # ...as the matcher folds it ("process", in all spellings)
    model = classifier({folded: (1.0, 8.0)})
    changed = dataclasses.replace(kb, decline_classifier=model)
    return changed, Matcher(changed)


def test_probability_is_the_logistic_of_the_normalised_tfidf_score() -> None:
    model = classifier({"tareeqa": (2.0, 3.0), "kya": (1.0, -1.0)}, intercept=-1.0)
    sigmoid = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    assert model.probability(["unknown", "words"]) == pytest.approx(sigmoid(-1.0))  # nothing known: the prior
    # one known feature: its vector is unit length whatever its idf or count, so it adds its coefficient
    assert model.probability(["tareeqa"]) == pytest.approx(sigmoid(-1.0 + 3.0))
    assert model.probability(["tareeqa", "tareeqa"]) == pytest.approx(sigmoid(-1.0 + 3.0))
    # two: tf-idf weights (2 and 1), L2-normalised, then the dot product with the coefficients
    assert model.probability(["tareeqa", "kya"]) == pytest.approx(sigmoid(-1.0 + (2 * 3 - 1 * 1) / math.sqrt(5)))


def test_places_and_names_are_masked_before_the_classifier_reads_them(matcher: Matcher) -> None:
    tokens = matcher.analyse("faisalabad park mein PSEB ka office").tokens
    masked = matcher.masked(tokens)
    assert "PLACE" in masked and "NAME" in masked
    assert "faisalabad" not in masked and "pseb" not in masked


async def test_an_unsaid_point_about_a_known_park_is_declined_with_what_the_sources_say(
    db: Database, knowledge_with: tuple[KnowledgeBase, Matcher]
) -> None:
    dispatcher: Dispatcher = make_dispatcher(db, knowledge_with)
    kb = knowledge_with[0]
    outcome = await dispatcher.handle(
        Incoming(channel="test", user_id="u1", text=f"faisalabad park mein office lene ka {ASKS_HOW_TO_GET} kya hai")
    )
    assert (outcome.intent, outcome.entry_id) == ("decline", "park_faisalabad")
    text = "\n".join(r.text for r in outcome.replies)
    assert text.startswith(kb.texts("facet_missing_detail", "roman"))  # said first, in the writer's language
    assert "19,500" in text  # then what the sources do say about that park
    # the same park asked what the sources give is answered
    answered = await dispatcher.handle(Incoming(channel="test", user_id="u2", text="faisalabad park kahan hai"))
    assert (answered.intent, answered.entry_id) == ("answer", "park_faisalabad")


def test_the_classifier_reads_places_masked(kb: KnowledgeBase) -> None:
    """Weights on a place's own word do nothing (the classifier never sees it); weights on the mask do."""
    question = "faisalabad park mein office lene ka kya hai"  # words the park's entry does not hold
    on_the_place = Matcher(dataclasses.replace(kb, decline_classifier=classifier({"faisalabad": (1.0, 9.0)})))
    assert on_the_place.match(question).intent == "answer"
    on_the_mask = Matcher(dataclasses.replace(kb, decline_classifier=classifier({"PLACE": (1.0, 9.0)})))
    assert (on_the_mask.match(question).intent, on_the_mask.match(question).facet) == ("decline", "detail")


def test_a_guessed_reading_declined_stays_in_the_staff_queue_with_its_alternatives(
    kb: KnowledgeBase, matcher: Matcher
) -> None:
    question = "which buildings are being used for the new parks"  # a best-of-close guess, in words it lacks
    guessed = matcher.match(question)
    assert guessed.low_confidence and guessed.alternatives
    flagged = {token: (1.0, 8.0) for token in matcher.masked(matcher.analyse(question).tokens)}
    declined = Matcher(dataclasses.replace(kb, decline_classifier=classifier(flagged))).match(question)
    assert (declined.intent, declined.low_confidence) == ("decline", True)
    assert declined.alternatives == guessed.alternatives


async def test_a_declined_guess_offers_its_other_readings_to_the_user(db: Database, kb: KnowledgeBase) -> None:
    question = "which buildings are being used for the new parks"  # a best-of-close guess, in words it lacks
    plain = Matcher(dataclasses.replace(kb, decline_classifier=None))
    flagged = {token: (1.0, 8.0) for token in plain.masked(plain.analyse(question).tokens)}
    changed = dataclasses.replace(kb, decline_classifier=classifier(flagged))
    outcome = await make_dispatcher(db, (changed, Matcher(changed))).handle(
        Incoming(channel="test", user_id="u1", text=question)
    )
    assert outcome.intent == "decline"
    text = "\n".join(r.text for r in outcome.replies)
    assert text.startswith(kb.texts("facet_missing_detail", "en")) and kb.texts("see_also", "en") in text
    offered = [o.payload for o in outcome.options]
    assert offered and all(p == f"kb:{e}" for p, e in zip(offered, plain.match(question).alternatives, strict=True))


def test_without_the_file_nothing_is_declined_by_it(kb: KnowledgeBase) -> None:
    plain = Matcher(dataclasses.replace(kb, decline_classifier=None))
    match = plain.match(f"faisalabad park mein office lene ka {ASKS_HOW_TO_GET} kya hai")
    assert (match.intent, match.entry_id) == ("answer", "park_faisalabad")


def test_the_shipped_weights_load_and_name_the_sets_they_were_trained_on(kb: KnowledgeBase) -> None:
    assert kb.decline_classifier is not None
    trained = kb.decline_classifier.trained_on
    assert trained and all((Path(__file__).parent.parent / "benchmarks" / name).exists() for name in trained)


GOOD = '"trained_on": ["a"], "threshold": 0.5, "intercept": 0, "chars": {"weights": {}}'


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"threshold": 2}', "threshold"),
        ('{"trained_on": ["a"], "threshold": 0.5,', "not valid JSON"),
        (
            '{"trained_on": [], "threshold": 0.5, "intercept": 0, "words": {"weights": {}}, "chars": {"weights": {}}}',
            "trained_on",
        ),
        ("{" + GOOD + ', "words": {"weights": {"kya": "one"}}}', "words.weights.kya"),
    ],
)
def test_a_bad_weights_file_is_refused_at_load_naming_file_and_field(
    tmp_path: Path, kb: KnowledgeBase, text: str, error: str
) -> None:
    data = tmp_path / "data"
    shutil.copytree(kb.directory, data)
    (data / CLASSIFIER_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=f"{CLASSIFIER_FILE}: .*{error}"):
        load_knowledge(data)


def test_a_question_whose_every_word_the_entry_holds_is_answered_whatever_the_classifier_says(
    kb: KnowledgeBase, matcher: Matcher
) -> None:
    question = "which companies get the one year fee exemption"
    flagged = {token: (1.0, 8.0) for token in matcher.masked(matcher.analyse(question).tokens)}
    strict = Matcher(dataclasses.replace(kb, decline_classifier=classifier(flagged)))
    assert strict.match(question).intent == "answer"  # every word is in the exemption entry: it is that entry's
    asked_more = f"{question} and do they give free laptops too"  # words the entry does not hold: it may decline
    assert Matcher(dataclasses.replace(kb, decline_classifier=None)).match(asked_more).intent == "answer"
    assert (strict.match(asked_more).intent, strict.match(asked_more).facet) == ("decline", "detail")
