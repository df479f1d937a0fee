"""Knowledge base content and matching: each fact group in English, Roman Urdu and Urdu script."""

from __future__ import annotations

import re
import string

import pytest
import yaml

from knowledge.evaluate import evaluate, load_questions
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher
from knowledge.normalize import normalize_chars

from .conftest import ROOT

# (question, expected entry, a fact the answer must state) per fact group, in all three scripts.
FACTS = [
    # parks
    ("stp in fsd?", "park_faisalabad", "19,500 sq ft"),
    ("faisalabad mein software park kahan banega", "park_faisalabad", "Ali Fatima College"),
    ("فیصل آباد میں سافٹ ویئر ٹیکنالوجی پارک کہاں ہے", "park_faisalabad", "19,500"),
    ("pindi stp size", "park_rawalpindi", "44,000 sq ft"),
    ("rawalpindi ka technology park kis mall mein hai", "park_rawalpindi", "Amazon Outlet Mall"),
    ("راولپنڈی میں ٹیکنالوجی پارک", "park_rawalpindi", "44,000"),
    ("which kp districts will get stps under the mou", "parks_kp_mou_districts", "Kohat"),
    ("kp ke kin districts mein stp banenge", "parks_kp_mou_districts", "South Waziristan"),
    ("خیبر پختونخوا کے کن اضلاع میں سافٹ ویئر پارک بنیں گے", "parks_kp_mou_districts", "کوہاٹ"),
    ("parks at universities", "parks_universities", "IBA Sukkur"),
    ("university mein stp kahan ban rahe hain", "parks_universities", "SSUET"),
    ("یونیورسٹیوں میں ٹیکنالوجی پارکس", "parks_universities", "سکھر"),
    ("how many parks per month", "parks_target_two_per_month", "2"),
    ("har mahine kitne stp", "parks_target_two_per_month", "2"),
    ("ہر ماہ کتنے سافٹ ویئر پارکس", "parks_target_two_per_month", "2"),
    # fees
    ("registration fee for startups", "fee_startup_registration", "Rs 1,000"),
    ("registration fee kitni hai", "fee_startup_registration", "Rs 5,000"),
    ("رجسٹریشن فیس کتنی ہے", "fee_startup_registration", "1,000"),
    ("fee exemption for small city companies", "fee_exemption_secondary_cities", "one year"),
    ("chote shehar ki company ki fee maaf hai", "fee_exemption_secondary_cities", "one year"),
    ("چھوٹے شہروں کی کمپنیوں کو فیس میں چھوٹ", "fee_exemption_secondary_cities", "ایک سال"),
    # programmes and services
    ("what is e-rozgar", "e_rozgar", "E-Rozgar"),
    ("e rozgar kya hai", "e_rozgar", "E-Rozgar"),
    ("ای روزگار کیا ہے", "e_rozgar", "روزگار"),
    ("plan 9 kp", "plan9", "Plan-9"),
    ("digital jobs programme kp", "kp_digital_jobs", "Digital Jobs"),
    ("ڈیجیٹل جابز پروگرام", "kp_digital_jobs", "ڈیجیٹل جابز"),
    ("free hosting for gilgit baltistan", "kp_gb_it_assistance", "hosting"),
    # organisations and strategy
    ("what is pseb", "org_pseb", "Pakistan Software Export Board"),
    ("pseb kya hai", "org_pseb", "Pakistan Software Export Board"),
    ("پی ایس ای بی کیا ہے", "org_pseb", "پاکستان سافٹ ویئر ایکسپورٹ بورڈ"),
    ("pseb export strategy pillars", "pseb_export_strategy", "6 pillars"),
    ("پی ایس ای بی کی برآمدی حکمت عملی کے ستون", "pseb_export_strategy", "6 ستون"),
]


@pytest.mark.parametrize(("question", "entry_id", "fact"), FACTS)
def test_fact_groups_answered_in_every_script(matcher: Matcher, kb: KnowledgeBase, question, entry_id, fact) -> None:  # type: ignore[no-untyped-def]
    match = matcher.match(question)
    assert (match.intent, match.entry_id) == ("answer", entry_id), match
    lang = "ur" if match.language == "ur" else "en"
    answer = kb.answer(entry_id, lang)
    assert fact in answer
    last_line = answer.splitlines()[-1]
    assert last_line.startswith("ماخذ: " if lang == "ur" else ("Source: ", "Sources: "))


def test_source_line_names_document_and_date(kb: KnowledgeBase) -> None:
    answer = kb.answer("fee_startup_registration", "en")
    assert answer.splitlines()[-1].endswith(", 12 Jan 2021")
    undated = kb.answer("kp_gb_it_assistance", "en")
    assert undated.splitlines()[-1].endswith("date not stated")


def test_every_entry_has_sources_and_all_three_languages(kb: KnowledgeBase) -> None:
    for entry in kb.entries.values():
        assert entry.sources and all(name in kb.sources for name in entry.sources)
        assert entry.answer.en and entry.answer.ur and entry.answer.roman
        assert entry.questions.ur


def test_answers_and_texts_come_back_in_roman_urdu(kb: KnowledgeBase) -> None:
    answer = kb.answer("fee_startup_registration", "roman")
    assert answer.startswith("PSEB ne startups ki registration fee Rs 5,000 se kam kar ke Rs 1,000 kar di hai.")
    assert answer.splitlines()[-1] == "Zariya: MoITT secretary ki PSEB ke saath review meeting, 12 Jan 2021"
    assert kb.answer("fee_startup_registration", "en").startswith("PSEB has reduced")
    assert kb.texts("language_set", "roman") == "Theek hai. Ab main Roman Urdu mein jawab doon ga."
    assert kb.texts("park_none_here", "roman", place="Lahore") == (
        "Mere zaraye Lahore mein kisi software technology park ka zikr nahin karte."
    )
    undated = kb.answer("kp_gb_it_assistance", "roman")
    assert undated.splitlines()[-1].endswith("tareekh darj nahin")
    park = kb.answer("park_faisalabad", "roman")
    assert park.startswith("Faisalabad (Punjab) mein software technology parks, zaraye ke mutabiq:")
    assert "Sitara Chemical ka Ali Fatima College of Science & Technology mein, 19,500 sq ft." in park


def test_urdu_answers_give_official_names_in_latin_letters(kb: KnowledgeBase) -> None:
    pseb = kb.answer("org_pseb", "ur")
    assert pseb.startswith("پی ایس ای بی (PSEB) سے مراد")
    assert "پاکستان سافٹ ویئر ایکسپورٹ بورڈ (Pakistan Software Export Board)" in pseb
    assert "عثمان ناصر (Osman Nasir)" in pseb
    assert pseb.count("(PSEB)") == 1  # the first mention only
    assert "ستارہ کیمیکل (Sitara Chemical)" in kb.answer("park_faisalabad", "ur")
    assert "ایمیزون آؤٹ لیٹ مال (Amazon Outlet Mall)" in kb.answer("park_rawalpindi", "ur")
    assert "(Punjab Information Technology Board, PITB)" in kb.answer("e_rozgar", "ur")


def _local_texts(node: object, where: str = "") -> list[tuple[str, dict[str, str]]]:
    """Every {en, ur, roman} mapping in a knowledge-base file, with where it is."""
    if isinstance(node, dict):
        found = [(where, node)] if isinstance(node.get("en"), str) else []
        return found + [item for key, value in node.items() for item in _local_texts(value, f"{where}.{key}")]
    if isinstance(node, list):
        return [item for i, value in enumerate(node) for item in _local_texts(value, f"{where}.{i}")]
    return []


def test_roman_urdu_texts_are_latin_and_keep_placeholders_and_figures() -> None:
    data = ROOT / "knowledge" / "data"
    files = [p for p in sorted(data.rglob("*.yaml")) if p.name != "lexicon.yaml"]
    checked = 0
    for path in files:
        for where, text in _local_texts(yaml.safe_load(path.read_text(encoding="utf-8"))):
            label = f"{path.name}{where}"
            roman = text.get("roman")
            assert isinstance(roman, str) and roman.strip(), label
            assert not re.search(r"[\u0600-\u06FF]", roman) or text["en"] == roman or "(Urdu)" in roman, label
            fields = {name for _, name, _, _ in string.Formatter().parse(text["en"]) if name}
            assert fields == {name for _, name, _, _ in string.Formatter().parse(roman) if name}, label
            figures = re.compile(r"\d+(?:,\d{3})*")
            assert sorted(figures.findall(text["en"])) == sorted(figures.findall(roman)), label
            checked += 1
    assert checked > 300


def test_kohat_is_kept_as_the_source_lists_it(kb: KnowledgeBase) -> None:
    answer = kb.answer("parks_kp_mou_districts", "en")
    assert answer.count("Kohat") >= 2
    assert "9 districts" in answer.lower()


@pytest.mark.parametrize(
    "question",
    [
        "what's the weather in lahore today",
        "who won the cricket match yesterday",
        "tax return for salaried people",
        "آج موسم کیسا ہے",
        "pakistan vs india match kab hai",
        "tell me a joke",
    ],
)
def test_out_of_scope_questions_are_declined(matcher: Matcher, question: str) -> None:
    match = matcher.match(question)
    assert match.intent in ("out_of_scope", "decline")
    assert match.entry_id is None


@pytest.mark.parametrize(
    ("question", "facet"),
    [
        ("pseb helpline number", "phone"),
        ("pseb ka phone number kya hai", "phone"),
        ("pseb email address", "email"),
        ("پی ایس ای بی کا فون نمبر", "phone"),
        ("pseb office timings", "timing"),
    ],
)
def test_near_domain_questions_have_no_verified_information(matcher: Matcher, question: str, facet: str) -> None:
    """Declined for the facet; the entry the question is about, if any, is what the sources do say of it."""
    match = matcher.match(question)
    assert (match.intent, match.facet) == ("decline", facet)


def test_freelancer_fee_is_declined_with_what_sources_say(matcher: Matcher, kb: KnowledgeBase) -> None:
    match = matcher.match("freelancer registration fee kitni hai")
    assert (match.intent, match.entry_id) == ("out_of_scope", "fee_freelancer")
    assert kb.entries["fee_freelancer"].declines


def test_city_without_park_gets_the_list(matcher: Matcher) -> None:
    """The sources name no park there: declined for that place, with the parks they do name."""
    match = matcher.match("stp in lahore")
    assert (match.intent, match.entry_id, match.missing_place) == ("decline", "parks_overview", "lahore")


def test_city_narrows_park_answers(matcher: Matcher) -> None:
    assert matcher.match("parks in Swat").entry_id == "park_swat"
    assert matcher.match("mardan stp").entry_id == "park_mardan"
    assert matcher.match("stp dik").entry_id == "park_dera_ismail_khan"


@pytest.mark.parametrize("question", ["fee", "jobs", "registration?"])
def test_short_ambiguous_queries_ask_did_you_mean(matcher: Matcher, question: str) -> None:
    """rapidfuzz's token_set_ratio scores a one-word subset 100; the matcher must not answer on that."""
    match = matcher.match(question)
    assert match.intent == "clarify"
    assert 1 <= len(match.candidates) <= 3


def test_a_place_name_alone_does_not_answer(matcher: Matcher) -> None:
    assert matcher.match("weather in karachi").intent == "out_of_scope"
    only_place = matcher.match("karachi")  # one place, one park entry: that is what was asked, not a "did you mean"
    assert (only_place.intent, only_place.entry_id) == ("answer", "park_karachi")


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("hi", "greeting"),
        ("Assalam o Alaikum", "greeting"),
        ("السلام علیکم", "greeting"),
        ("aoa", "greeting"),
        ("I want to complain", "complaint_start"),
        ("shikayat", "complaint_start"),
        ("شکایت", "complaint_start"),
        ("shikayt darj karni hai", "complaint_start"),
    ],
)
def test_greetings_and_complaint_starts(matcher: Matcher, text: str, intent: str) -> None:
    assert matcher.match(text).intent == intent


def test_complaint_management_service_is_a_question_not_a_complaint(matcher: Matcher) -> None:
    match = matcher.match("what is the sms portal and complaint management system")
    assert (match.intent, match.entry_id) == ("answer", "sms_portal_complaint_management")


def test_typos_are_corrected_towards_the_knowledge_base(matcher: Matcher) -> None:
    assert matcher.match("softwere tecnology park in faislabad").entry_id == "park_faisalabad"
    assert matcher.match("registraion fee for startp").entry_id == "fee_startup_registration"


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("كيا  ہے؟", "کیا ہی"),  # Arabic kaf/yeh, yeh barree, punctuation
        ("فِیس", "فیس"),  # diacritics
        ("۱۹۵۰۰ ٹیکنالوجی", "19500 ٹیکنالوجی"),  # Eastern digits
        ("Rs. 5,000!!", "rs 5000"),
        ("stp\u200b\u200fin\tFSD", "stp in fsd"),  # zero-width and bidi marks, tabs
    ],
)
def test_normalize_chars(raw: str, normalized: str) -> None:
    assert normalize_chars(raw) == normalized


def test_language_detection(matcher: Matcher) -> None:
    assert matcher.match("registration fee kitni hai").language == "roman"
    assert matcher.match("what is the registration fee").language == "en"
    assert matcher.match("رجسٹریشن فیس").language == "ur"


def test_labelled_questions_meet_the_accuracy_target(matcher: Matcher) -> None:
    report = evaluate(matcher, load_questions(ROOT / "benchmarks" / "questions.yaml"))
    assert report.total >= 150
    assert report.accuracy >= 0.95, "\n".join(report.lines())


def test_no_lexicon_phrase_has_two_meanings(matcher: Matcher) -> None:
    assert matcher.conflicts == []


def test_lexicon_conflicts_are_reported(kb: KnowledgeBase) -> None:
    synonyms = dict(kb.lexicon.synonyms)
    synonyms["pitb"] = [*synonyms["pitb"], "pseb"]
    clashing = kb.lexicon.model_copy(update={"synonyms": synonyms})
    kb2 = KnowledgeBase(**{**kb.__dict__, "lexicon": clashing})
    assert any("'pseb' means both" in c for c in Matcher(kb2).conflicts)


def test_normalized_variants_are_not_blank(matcher: Matcher, kb: KnowledgeBase) -> None:
    for entry in kb.entries.values():
        for _, question in entry.questions.all():
            assert normalize_chars(question), (entry.id, question)


def test_a_repeated_text_is_read_once_and_the_reading_cannot_be_changed(matcher: Matcher) -> None:
    question = "what is the startup registration fee at pseb"
    first = matcher.match(question)
    assert matcher.match(question) is first  # the cached reading, not a second one
    assert first == matcher.read(question)  # and the same as reading it afresh
    with pytest.raises(AttributeError):
        first.intent = "greeting"  # type: ignore[misc]  # shared by every message with this text


def test_only_short_texts_are_remembered_by_the_normaliser() -> None:
    """A message is normalised several times, so short texts are cached; long ones (up to 100 KB) are not kept."""
    from knowledge import normalize

    normalize.forget_normalized()  # the knowledge base's own texts may have filled it already
    before = normalize._normalize_short.cache_info().currsize
    long_text = "STP Peshawar " * 10_000
    assert normalize_chars(long_text) == " ".join(["stp peshawar"] * 10_000)
    assert normalize._normalize_short.cache_info().currsize == before
    assert normalize_chars("Ｆｅｅ ٹیکس") == normalize_chars("fee ٹیکس") == "fee ٹیکس"
    assert normalize._normalize_short.cache_info().currsize > before
    assert normalize._normalize_short.cache_info().maxsize == 4096


def test_answer_words_break_ties_towards_the_answer_that_says_the_asked_word() -> None:
    from knowledge.answer_words import AnswerWords
    from knowledge.match_types import Candidate

    words = AnswerWords(
        [("a", ["The board reuses vacant buildings."]), ("b", ["The board signed an agreement."])],
        lambda text: text.lower().replace(".", "").split(),
    )
    tied = [Candidate("b", 0.6), Candidate("a", 0.6)]
    assert [c.entry_id for c in words.boost(tied, {"vacant", "board"}, 0.1)] == ["a", "b"]
    assert words.boost(tied, {"vacant"}, 0.0) == tied  # no weight: nothing changes
    assert words.share("b", {"with"}) == 0.0  # short words are not counted


def test_a_catch_all_decline_steps_aside_for_a_close_entry_sharing_more_words() -> None:
    from knowledge.catch_all import yield_to_answers
    from knowledge.match_types import Candidate

    ranked = [Candidate("nobody_named", 0.70, shared=2), Candidate("the_visit", 0.65, shared=3)]
    assert yield_to_answers(ranked, frozenset({"nobody_named"}))[0].entry_id == "the_visit"
    far = [Candidate("nobody_named", 0.90, shared=2), Candidate("the_visit", 0.65, shared=3)]
    assert yield_to_answers(far, frozenset({"nobody_named"})) == far  # clearly ahead: it stands
