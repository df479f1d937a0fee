"""The main menu and the guided tools (fee checker, park finder, programme finder) through the core."""

from __future__ import annotations

import dataclasses
import re

import pytest
from sqlmodel import select

from bot.db import Database
from bot.models import Conversation
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming, Location, Outcome
from knowledge.schema import CityClass

from .conftest import make_dispatcher

MENU = ["flow:parks", "flow:fees", "flow:programmes", "complaint:start", "cmd:status", "handover:start", "cmd:language"]


class Chat:
    """One user talking to the core, message after message."""

    def __init__(self, dispatcher: Dispatcher, user: str = "tools") -> None:
        self.dispatcher = dispatcher
        self.user = user

    async def say(self, text: str = "", **kwargs: object) -> Outcome:
        return await self.dispatcher.handle(Incoming(channel="test", user_id=self.user, text=text, **kwargs))  # type: ignore[arg-type]


def text_of(outcome: Outcome) -> str:
    return "\n\n".join(reply.text for reply in outcome.replies)


async def flow_of(db: Database, user: str = "tools") -> str | None:
    async with db.session() as session:
        return (await session.exec(select(Conversation).filter_by(channel="test", user_id=user))).one().flow


@pytest.mark.parametrize("opening", ["salam", "menu", "/start", "مینو"])
async def test_main_menu(dispatcher: Dispatcher, opening: str) -> None:
    outcome = await Chat(dispatcher).say(opening)
    assert [o.payload for o in outcome.options] == MENU


async def test_main_menu_in_urdu(dispatcher: Dispatcher) -> None:
    outcome = await Chat(dispatcher).say("السلام علیکم")
    assert outcome.options[0].label == "ٹیکنالوجی پارکس"


# -- fee checker ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "entry", "fact"),
    [
        ("1", "fee_startup_registration", "Rs 1,000"),
        ("A company", "fee_company", "do not state PSEB's regular registration fee for companies"),
        ("main freelancer hoon", "fee_freelancer", "no PSEB registration fee for freelancers"),
    ],
)
async def test_fee_checker_answers_by_who_and_city(dispatcher: Dispatcher, who: str, entry: str, fact: str) -> None:
    chat = Chat(dispatcher)
    menu = await chat.say("menu")
    assert menu.options[1].payload == "flow:fees"
    ask_who = await chat.say("2")
    assert [o.payload for o in ask_who.options] == ["who:startup", "who:company", "who:other"]
    ask_city = await chat.say(who)
    assert "city" in text_of(ask_city)
    answer = await chat.say("mardan")
    assert answer.entry_id == entry
    assert fact in answer.replies[0].text and "Source:" in answer.replies[0].text
    exemption = answer.replies[1].text
    assert "Is Mardan an underserved or secondary city?" in exemption
    assert "does not list which cities count as underserved or secondary, and does not say who decides" in exemption
    assert "one year for companies from underserved/secondary cities" in exemption
    assert exemption.splitlines()[-1] == "Source: MoITT secretary's review meeting with PSEB, 12 Jan 2021"


async def test_fee_checker_uses_a_sourced_city_classification(db: Database, knowledge) -> None:  # type: ignore[no-untyped-def]
    kb, matcher = knowledge
    classified = CityClass.model_validate({"place": "bannu", "class": "underserved", "source": next(iter(kb.sources))})
    kb2 = dataclasses.replace(kb, city_classes={"bannu": classified})
    chat = Chat(make_dispatcher(db, (kb2, matcher)))
    await chat.say("/fees")
    await chat.say("startup")
    answer = await chat.say("Bannu")
    assert "Bannu is listed as an underserved city" in answer.replies[1].text
    assert "can apply" in answer.replies[1].text
    other = await chat.say("/fees")
    assert other.intent == "fees"
    await chat.say("startup")
    unlisted = await chat.say("some village")
    assert "Is some village an underserved or secondary city?" in unlisted.replies[1].text
    assert "PSEB decides" not in unlisted.replies[1].text


async def test_fee_checker_in_urdu(dispatcher: Dispatcher) -> None:
    chat = Chat(dispatcher)
    ask = await chat.say("/fees", language_hint="ur")
    assert ask.options[0].label == "سٹارٹ اپ"
    await chat.say("سٹارٹ اپ")
    answer = await chat.say("پشاور")
    assert "1,000 روپے" in answer.replies[0].text
    assert "پشاور" in answer.replies[1].text and "ماخذ" in answer.replies[1].text


async def test_fee_checker_reasks_once_then_leaves(dispatcher: Dispatcher, db: Database) -> None:
    chat = Chat(dispatcher)
    await chat.say("/fees")
    again = await chat.say("banana")
    assert again.intent == "reask" and len(again.options) == 3
    assert await flow_of(db) == "fees"
    left = await chat.say("still banana")
    assert left.intent == "flow_abandoned" and await flow_of(db) is None


@pytest.mark.parametrize("leave", ["cancel", "menu", "منسوخ"])
async def test_fee_checker_can_be_left_at_the_city_step(dispatcher: Dispatcher, db: Database, leave: str) -> None:
    chat = Chat(dispatcher)
    await chat.say("/fees")
    await chat.say("company")
    assert await flow_of(db) == "fees"
    await chat.say(leave)
    assert await flow_of(db) is None


async def test_empty_city_is_reasked(dispatcher: Dispatcher) -> None:
    chat = Chat(dispatcher)
    await chat.say("/fees")
    await chat.say("startup")
    assert (await chat.say("   ")).intent == "reask"


# -- park finder ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "entry"), [("Swat", "park_swat"), ("fsd", "park_faisalabad"), ("ڈی آئی خان", "park_dera_ismail_khan")]
)
async def test_park_finder_by_typed_city(dispatcher: Dispatcher, typed: str, entry: str) -> None:
    chat = Chat(dispatcher)
    await chat.say("/parks")
    answer = await chat.say(typed)
    assert answer.entry_id == entry
    assert re.search(r"\n(Sources?|ماخذ): ", text_of(answer))


async def test_park_finder_city_without_park_gets_nearest_and_planned(dispatcher: Dispatcher) -> None:
    chat = Chat(dispatcher)
    await chat.say("/parks")
    answer = await chat.say("peshawar")
    text = text_of(answer)
    assert text.startswith("My sources name no software technology park in Peshawar.")
    distances = [int(km) for km in re.findall(r"\((\d+) km\)", text)]
    assert len(distances) == 3 and distances == sorted(distances)
    assert "Mardan" in text  # the nearest park district to Peshawar
    assert "Planned or under discussion in Khyber Pakhtunkhwa:" in text
    assert answer.options and all(o.payload.startswith("kb:park_") for o in answer.options)


@pytest.mark.parametrize("pick", ["2", "Punjab", "پنجاب"])
async def test_park_finder_by_province(dispatcher: Dispatcher, pick: str) -> None:
    chat = Chat(dispatcher)
    await chat.say("/parks")
    answer = await chat.say(pick)
    text = text_of(answer)
    assert text.startswith("Software technology parks in Punjab") or "پنجاب" in text
    assert "Faisalabad" in text or "فیصل آباد" in text
    assert {o.payload for o in answer.options} == {"kb:park_faisalabad", "kb:park_rawalpindi"}
    picked = await chat.say("1")
    assert picked.entry_id == "park_faisalabad"


async def test_park_finder_all_parks_and_province_without_parks(dispatcher: Dispatcher) -> None:
    chat = Chat(dispatcher)
    await chat.say("/parks")
    assert (await chat.say("All parks")).entry_id == "parks_overview"
    await chat.say("/parks")
    none = await chat.say("gilgit baltistan")
    assert "no software technology park in Gilgit" in text_of(none)


async def test_park_finder_by_shared_location(dispatcher: Dispatcher) -> None:
    chat = Chat(dispatcher)
    await chat.say("/parks")
    answer = await chat.say(location=Location(latitude=34.20, longitude=72.04))  # Mardan
    text = text_of(answer)
    assert text.startswith("The parks nearest to your location")
    first = text.splitlines()[1]
    assert first.startswith("• Mardan") and ("(0 km)" in first or "(1 km)" in first)


async def test_location_outside_any_flow_finds_parks(dispatcher: Dispatcher) -> None:
    answer = await Chat(dispatcher).say(location=Location(latitude=24.86, longitude=67.01))  # Karachi
    assert text_of(answer).splitlines()[1].startswith("• Karachi")


async def test_park_finder_reasks_with_options(dispatcher: Dispatcher, db: Database) -> None:
    chat = Chat(dispatcher)
    await chat.say("/parks")
    again = await chat.say("the moon")
    assert again.intent == "reask" and again.options[-1].payload == "kb:parks_overview"
    await chat.say("cancel")
    assert await flow_of(db) is None


# -- programme finder ----------------------------------------------------------------------------------


async def test_programme_finder_by_province_and_audience(dispatcher: Dispatcher) -> None:
    chat = Chat(dispatcher)
    menu = await chat.say("menu")
    await chat.say(menu.options[2].label)  # "Programmes", picked by its label
    ask = await chat.say("KP")
    assert [o.payload for o in ask.options] == [
        "audience:freelancers",
        "audience:startups",
        "audience:citizens",
        "audience:government",
    ]
    answer = await chat.say("freelancers")
    text = text_of(answer)
    assert "Digital Jobs (KP)" in text and "Workaround (KP)" in text and "BPOs (KP)" in text
    assert "E-Stamping" not in text.split("Also named")[0]
    assert "the sources do not say whom these are for" in text and "E-Rozgar" in text
    assert "\nSources: " in text
    picked = await chat.say("1")
    assert picked.entry_id == answer.options[0].payload.removeprefix("kb:")


async def test_programme_finder_government_in_gb(dispatcher: Dispatcher) -> None:
    chat = Chat(dispatcher)
    await chat.say("/programmes")
    await chat.say("3")  # Gilgit-Baltistan
    answer = await chat.say("4")  # Government offices
    payloads = [o.payload for o in answer.options]
    assert "kb:kp_gb_it_assistance" in payloads and "kb:kp_assistance_other_provinces" in payloads
    assert "kb:hrmis" not in payloads  # a KP system, not GB's


async def test_programme_finder_none_for_audience(dispatcher: Dispatcher) -> None:
    chat = Chat(dispatcher)
    await chat.say("/programmes")
    await chat.say("Gilgit-Baltistan")
    answer = await chat.say("citizens")
    assert text_of(answer).startswith("The sources name no programme for Citizens in Gilgit-Baltistan.")


async def test_programme_finder_reasks_each_step(dispatcher: Dispatcher, db: Database) -> None:
    chat = Chat(dispatcher)
    await chat.say("/programmes")
    assert (await chat.say("mars")).intent == "reask"
    await chat.say("all provinces")
    assert (await chat.say("aliens")).intent == "reask"
    assert await flow_of(db) == "programmes"
    done = await chat.say("startups")
    assert "kb:fee_startup_registration" in [o.payload for o in done.options]
    assert await flow_of(db) is None
