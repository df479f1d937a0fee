"""Office hours: staff answer Monday to Friday 09:00-17:00 Pakistan time, less public holidays. Outside them a citizen
asking for a person is told the next opening in their language, the request waits for staff, and the bot keeps
answering (each message kept for staff). On SQLite and PostgreSQL, in the core and on Telegram (WhatsApp:
tests/test_office_hours_whatsapp.py); the clock is set, never waited for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.core import office_hours
from bot.db import Database
from bot.domain.complaints import Draft, file_complaint
from bot.domain.deadlines import PKT
from bot.domain.office_hours import OfficeHours, OfficeHoursError, parse_days, parse_hours
from bot.models import ComplaintEvent, Handover, HandoverMessage
from bot.settings import Settings
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming
from knowledge.loader import KnowledgeError, load_knowledge

from .fake_telegram import parse_html
from .test_telegram import CHAT, Harness, webhook  # noqa: F401  (fixture)

HOLIDAY = dt.date(2026, 8, 14)  # Independence Day, a Friday
THURSDAY_EVENING = dt.datetime(2026, 8, 13, 18, 0, tzinfo=PKT)
MONDAY_OPENING = dt.datetime(2026, 8, 17, 9, 0, tzinfo=PKT)
STANDARD = OfficeHours.of("mon-fri", "09:00-17:00", {HOLIDAY})


def pkt(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 8, day, hour, minute, tzinfo=PKT)


def test_open_hours_skip_the_evening_a_holiday_and_the_weekend() -> None:
    assert STANDARD.is_open(pkt(13, 9)) and STANDARD.is_open(pkt(13, 16, 59))
    assert not STANDARD.is_open(pkt(13, 8, 59)) and not STANDARD.is_open(pkt(13, 17))
    assert not STANDARD.is_open(pkt(14, 11))  # the holiday
    assert not STANDARD.is_open(pkt(15, 11)) and not STANDARD.is_open(pkt(16, 11))  # Saturday, Sunday
    assert STANDARD.next_opening(THURSDAY_EVENING) == MONDAY_OPENING
    assert STANDARD.next_opening(pkt(16, 23, 59)) == MONDAY_OPENING
    assert STANDARD.next_opening(pkt(13, 7)) == pkt(13, 9)  # early on a working day: that morning
    assert STANDARD.next_opening(pkt(13, 10)) == pkt(13, 10)  # open now
    # the same instant in UTC (as the dispatcher's clock gives it)
    assert STANDARD.next_opening(THURSDAY_EVENING.astimezone(dt.UTC)) == MONDAY_OPENING
    assert not OfficeHours.of("mon-fri", "09:00-17:00", set()).is_open(pkt(14, 11).replace(hour=20))
    assert OfficeHours.of("mon-fri", "09:00-17:00", set()).is_open(pkt(14, 11))  # no holiday list: a working day


def test_days_and_hours_settings_are_checked_with_a_clear_message() -> None:
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("sat-mon") == frozenset({5, 6, 0})  # a range may wrap the week
    assert parse_days("Mon, thu") == frozenset({0, 3})
    assert parse_hours("always") is None
    for days in ("", "monday-fri", "mon-xyz"):
        with pytest.raises(OfficeHoursError, match="OFFICE_DAYS"):
            parse_days(days)
    for hours in ("9-5pm", "17:00-09:00", "09:00"):
        with pytest.raises(OfficeHoursError, match="OFFICE_HOURS"):
            parse_hours(hours)
    with pytest.raises(ValueError, match="OFFICE_HOURS"):
        Settings(office_hours="nine to five")
    assert OfficeHours.of("mon-sun", "always", set()).is_open(pkt(15, 3))


def test_the_settings_take_the_holidays_of_the_knowledge_base(settings: Settings) -> None:
    hours = office_hours(settings)
    assert HOLIDAY in hours.holidays and hours.days == frozenset(range(5))
    assert hours.next_opening(THURSDAY_EVENING) == MONDAY_OPENING


def at(dispatcher: Dispatcher, when: dt.datetime) -> None:
    dispatcher.office_hours = STANDARD
    dispatcher.clock = lambda: when.astimezone(dt.UTC)


OPENING = {
    "en": "Monday 17 Aug 2026 at 09:00",
    "ur": "پیر 17 اگست 2026، 09:00 بجے",
    "roman": "Peer 17 Aug 2026, 09:00 baje",
}


@pytest.mark.parametrize("lang", list(OPENING))
async def test_out_of_hours_the_citizen_is_told_the_next_opening_in_their_language(
    dispatcher: Dispatcher, lang: str
) -> None:
    at(dispatcher, THURSDAY_EVENING)
    said = await dispatcher.handle(Incoming(channel="test", user_id="c-1", text="agent", reply_language=lang))
    assert said.intent == "handover_after_hours"
    assert OPENING[lang] in said.replies[0].text
    assert [o.payload for o in said.options] == ["handover:end"]


async def test_out_of_hours_the_bot_keeps_answering_and_staff_still_get_the_messages(
    dispatcher: Dispatcher, db: Database
) -> None:
    at(dispatcher, THURSDAY_EVENING)
    await dispatcher.handle(Incoming(channel="test", user_id="c-1", text="talk to a person"))
    answered = await dispatcher.handle(Incoming(channel="test", user_id="c-1", text="startup registration fee"))
    assert answered.intent == "answer" and "Rs 1,000" in answered.replies[0].text
    at(dispatcher, MONDAY_OPENING + dt.timedelta(minutes=5))  # staff are in: the bot is quiet again
    quiet = await dispatcher.handle(Incoming(channel="test", user_id="c-1", text="are you there?"))
    assert quiet.intent == "handover_message" and quiet.replies == []
    async with db.session() as session:
        handover = (await session.exec(select(Handover))).one()
        kept = [
            m.text for m in await session.exec(select(HandoverMessage).where(HandoverMessage.kind == "citizen_message"))
        ]
    assert handover.status == "waiting"  # still queued for staff
    assert kept == ["startup registration fee", "are you there?"]


async def test_out_of_hours_back_to_the_bot_withdraws_the_request(dispatcher: Dispatcher, db: Database) -> None:
    at(dispatcher, THURSDAY_EVENING)
    await dispatcher.handle(Incoming(channel="test", user_id="c-1", text="insaan se baat"))
    ended = await dispatcher.handle(Incoming(channel="test", user_id="c-1", text="wapas bot"))
    assert ended.intent == "handover_end"
    async with db.session() as session:
        assert (await session.exec(select(Handover))).one().status == "closed"


async def test_out_of_hours_reply_on_telegram(webhook: Harness) -> None:  # noqa: F811
    at(webhook.core.dispatcher, THURSDAY_EVENING)
    fake = webhook.fake
    [told] = await webhook.exchange(fake.message_update(CHAT, "talk to a person"), "not at work")
    assert "Monday 17 Aug 2026 at 09:00" in parse_html(told["text"])
    await webhook.exchange(fake.message_update(CHAT, "startup registration fee"), "Rs 1,000")  # the bot answers


def test_a_weekdays_list_without_seven_names_is_refused_at_load(tmp_path: Path, settings: Settings) -> None:
    from .test_cli import broken_copy, edit_yaml

    def six_days(texts: dict[str, Any]) -> None:
        texts["texts"]["weekdays"]["ur"] = "پیر, منگل, بدھ, جمعرات, جمعہ, ہفتہ"

    directory = broken_copy(tmp_path, lambda d: edit_yaml(d / "texts.yaml", six_days))
    with pytest.raises(KnowledgeError, match="weekdays: need 7 comma-separated names"):
        load_knowledge(directory, settings.sources_dir)


async def test_out_of_hours_about_a_complaint_names_it(dispatcher: Dispatcher, db: Database) -> None:
    async with db.session() as session, session.begin():
        draft = Draft(channel="test", user_id="c-1", category="other", district="swat", description="no internet")
        reference = (await file_complaint(session, draft)).reference
    at(dispatcher, pkt(15, 11))  # a Saturday morning
    asked = await dispatcher.handle(Incoming(channel="test", user_id="c-1", text="talk to a person"))
    assert asked.intent == "handover_which"
    told = await dispatcher.handle(
        Incoming(channel="test", user_id="c-1", payload=f"handover:open:{reference}", reply_language="roman")
    )
    assert told.intent == "handover_after_hours"
    assert f"aap ki shikayat {reference}" in told.replies[0].text and OPENING["roman"] in told.replies[0].text
    async with db.session() as session:
        handover = (await session.exec(select(Handover))).one()
        said = (await session.exec(select(ComplaintEvent).where(ComplaintEvent.kind == "bot_message"))).one()
    assert handover.status == "waiting" and handover.complaint_id is not None
    # staff read what the citizen was told, in the complaint's conversation
    assert (said.complaint_id, said.actor, said.note) == (handover.complaint_id, "bot", told.replies[0].text)
