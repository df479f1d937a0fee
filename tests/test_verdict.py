"""The citizen's verdict on a resolved complaint ("Was it solved?" yes / no, then a rating), the 7-day close, and
the clock paused while a complaint waits for the citizen: on SQLite and PostgreSQL, and over Telegram's buttons
(the fake Bot API, tests/fake_telegram.py). WhatsApp's numbered options: tests/test_verdict_whatsapp.py."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import col, select

from bot.core import Core
from bot.db import Database
from bot.domain.complaints import ComplaintError, Draft, change_status, file_complaint
from bot.domain.conversation import request_handover, take_over
from bot.domain.deadlines import PKT, add_working_days, add_working_time, working_time_between
from bot.domain.outbox import deliver_due
from bot.domain.routing_data import load_routing
from bot.domain.verdict import close_round, close_unanswered
from bot.models import Complaint, ComplaintEvent, Notification, utcnow
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming, Outcome

from .fake_telegram import parse_html
from .test_telegram import CHAT, Harness, labels, webhook  # noqa: F401 (a fixture)

HOLIDAYS = frozenset({dt.date(2026, 3, 20), dt.date(2026, 3, 23)})  # Eid ul Fitr (Friday), Pakistan Day (Monday)


def pkt(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PKT)  # type: ignore[misc]


async def filed(core: Core, channel: str = "test", user: str = "citizen", now: dt.datetime | None = None) -> Complaint:
    async with core.db.session() as session, session.begin():
        draft = Draft(channel=channel, user_id=user, category="other", district="swat", description="no signal here")
        return await file_complaint(session, draft, now=now)


async def set_status(core: Core, complaint_id: int, status: str, now: dt.datetime | None = None) -> None:
    async with core.db.session() as session, session.begin():
        stored = await session.get(Complaint, complaint_id)
        await change_status(session, core.kb, stored, status, actor="staff:amna", reason="Fixed the mast", now=now)


async def reload(db: Database, complaint_id: int) -> Complaint:
    async with db.session() as session:
        found = await session.get(Complaint, complaint_id)
        assert found is not None
        return found


async def events(db: Database, complaint_id: int) -> list[ComplaintEvent]:
    async with db.session() as session:
        query = select(ComplaintEvent).where(ComplaintEvent.complaint_id == complaint_id)
        return list(await session.exec(query.order_by(col(ComplaintEvent.id))))


async def say(dispatcher: Dispatcher, text: str = "", **kwargs: object) -> Outcome:
    return await dispatcher.handle(Incoming(channel="test", user_id="citizen", text=text, **kwargs))  # type: ignore[arg-type]


# -- the question and its answers ------------------------------------------------------------------------------


async def test_the_resolution_asks_whether_it_was_solved_with_yes_and_no(core: Core) -> None:
    complaint = await filed(core)
    await set_status(core, complaint.id, "resolved")  # type: ignore[arg-type]
    async with core.db.session() as session:
        note = (await session.exec(select(Notification))).one()
    assert note.text.endswith("Was it solved?")
    assert [o["label"] for o in note.options] == ["Yes", "No"]
    assert [o["payload"] for o in note.options] == [
        f"verdict:yes:{complaint.reference}",
        f"verdict:no:{complaint.reference}",
    ]


async def test_no_asks_why_and_reopens_with_the_reason(core: Core, dispatcher: Dispatcher) -> None:
    complaint = await filed(core)
    await set_status(core, complaint.id, "resolved")  # type: ignore[arg-type]
    asked = await say(dispatcher, payload=f"verdict:no:{complaint.reference}")
    assert "what is still wrong" in asked.replies[0].text
    assert (await say(dispatcher, "   ")).intent == "reask"  # no reason yet: asked again
    done = await say(dispatcher, "The signal is still gone in block B")
    assert "Reopened" in done.replies[0].text
    again = await reload(core.db, complaint.id)  # type: ignore[arg-type]
    assert (again.status, again.status_reason, again.resolved_at, again.body_id) == (
        "in_review",
        None,  # the old resolution reason is cleared
        None,
        complaint.body_id,  # back in its body's queue
    )
    reopened = [e for e in await events(core.db, complaint.id) if e.kind == "reopened"]  # type: ignore[arg-type]
    assert [(e.note, e.actor, e.to_status) for e in reopened] == [
        ("The signal is still gone in block B", "citizen", "in_review")
    ]
    late = await say(dispatcher, payload=f"verdict:yes:{complaint.reference}")  # not resolved any more
    assert "no longer waiting for your answer" in late.replies[0].text


async def test_yes_closes_and_the_rating_is_kept(core: Core, dispatcher: Dispatcher) -> None:
    complaint = await filed(core)
    await set_status(core, complaint.id, "resolved")  # type: ignore[arg-type]
    stranger = Incoming(channel="test", user_id="someone-else", payload=f"verdict:yes:{complaint.reference}")
    assert (await dispatcher.handle(stranger)).replies[0].text.startswith("I found no complaint")
    assert (await reload(core.db, complaint.id)).status == "resolved"  # type: ignore[arg-type]
    thanked = await say(dispatcher, payload=f"verdict:yes:{complaint.reference}")
    assert "is now closed" in thanked.replies[0].text and [o.label for o in thanked.options] == list("12345")
    assert "4 of 5" in (await say(dispatcher, "4")).replies[0].text
    closed = await reload(core.db, complaint.id)  # type: ignore[arg-type]
    assert (closed.status, closed.rating) == ("closed", 4) and closed.resolved_at is not None
    kinds = [(e.kind, e.to_status, e.actor) for e in await events(core.db, complaint.id)]  # type: ignore[arg-type]
    assert ("status", "closed", "citizen") in kinds and ("rated", None, "citizen") in kinds
    again = await say(dispatcher, payload=f"verdict:no:{complaint.reference}")
    assert "no longer waiting" in again.replies[0].text  # a closed complaint is not reopened by an old button


async def test_a_yes_typed_after_the_resolution_answers_it_but_not_once_the_citizen_wrote_since(
    core: Core, dispatcher: Dispatcher
) -> None:
    await say(dispatcher, "menu")  # the menu's options are the last ones offered in the chat
    complaint = await filed(core)
    await set_status(core, complaint.id, "resolved")  # type: ignore[arg-type]
    assert (await say(dispatcher, "1")).intent == "verdict"  # the question that came last, not the menu's 1
    assert (await reload(core.db, complaint.id)).status == "closed"  # type: ignore[arg-type]
    other = await filed(core)
    await set_status(core, other.id, "resolved")  # type: ignore[arg-type]
    await say(dispatcher, "what is the fee for a startup")
    assert (await say(dispatcher, "yes")).intent != "verdict"  # they wrote since: "yes" is not read as the answer
    assert (await reload(core.db, other.id)).status == "resolved"  # type: ignore[arg-type]


# -- no reply in VERDICT_DAYS ------------------------------------------------------------------------------------


async def test_a_resolution_left_unanswered_for_seven_days_is_closed_by_the_worker(core: Core) -> None:
    resolved_at = utcnow() - dt.timedelta(days=8)
    old = await filed(core, now=resolved_at - dt.timedelta(days=1))
    await set_status(core, old.id, "resolved", now=resolved_at)  # type: ignore[arg-type]
    recent = await filed(core)
    await set_status(core, recent.id, "resolved", now=utcnow() - dt.timedelta(days=6))  # type: ignore[arg-type]
    assert await close_round(core.db, 7) == 1
    assert (await reload(core.db, old.id)).status == "closed"  # type: ignore[arg-type]
    assert (await reload(core.db, recent.id)).status == "resolved"  # type: ignore[arg-type]
    [closing] = [e for e in await events(core.db, old.id) if e.to_status == "closed"]  # type: ignore[arg-type]
    assert (closing.actor, closing.note) == ("system", "no reply from the citizen in 7 days")
    async with core.db.session() as session, session.begin():  # a second worker closes nothing twice
        assert await close_unanswered(session, 7) == 0
    assert await close_round(core.db, 5) == 1  # VERDICT_DAYS is a setting: 5 days closes the recent one too


# -- the paused clock -------------------------------------------------------------------------------------------


def test_working_time_skips_weekends_and_holidays() -> None:
    # Wednesday 10:00 to the next Tuesday 10:00: Wed 14 h, Thu 24 h, Fri holiday, weekend, Mon holiday, Tue 10 h.
    assert working_time_between(pkt(2026, 3, 18, 10), pkt(2026, 3, 24, 10), HOLIDAYS) == dt.timedelta(hours=48)
    assert working_time_between(pkt(2026, 3, 21, 9), pkt(2026, 3, 22, 18), HOLIDAYS) == dt.timedelta(0)
    # due at the end of Thursday 19 March; a working day more skips Eid, the weekend and Pakistan Day
    end_of_thursday = pkt(2026, 3, 20)
    assert add_working_time(end_of_thursday, dt.timedelta(hours=24), HOLIDAYS) == pkt(2026, 3, 25)
    assert add_working_time(end_of_thursday, dt.timedelta(hours=30), HOLIDAYS) == pkt(2026, 3, 25, 6)
    assert add_working_time(end_of_thursday, dt.timedelta(0), HOLIDAYS) == end_of_thursday


async def test_waiting_for_the_citizen_moves_the_due_time_by_the_working_time_paused(core: Core) -> None:
    holidays = load_routing(core.settings.knowledge_dir).holidays
    assert HOLIDAYS <= holidays  # the shipped calendar has both
    complaint = await filed(core, now=pkt(2026, 3, 2, 9))
    due = complaint.due_at
    assert due is not None
    await set_status(core, complaint.id, "waiting", now=pkt(2026, 3, 18, 10))  # type: ignore[arg-type]
    assert (await reload(core.db, complaint.id)).paused_at == pkt(2026, 3, 18, 10)  # type: ignore[arg-type]
    await set_status(core, complaint.id, "in_review", now=pkt(2026, 3, 24, 10))  # type: ignore[arg-type]
    resumed = await reload(core.db, complaint.id)  # type: ignore[arg-type]
    assert resumed.paused_at is None
    assert resumed.due_at == add_working_days(due - dt.timedelta(seconds=1), 2, holidays)  # two working days later
    [line] = [e for e in await events(core.db, complaint.id) if e.kind == "resumed"]  # type: ignore[arg-type]
    assert "waited for the citizen since 2026-03-18 05:00 UTC" in (line.note or "")


async def test_a_citizen_reply_resumes_a_waiting_complaint(core: Core, dispatcher: Dispatcher) -> None:
    complaint = await filed(core)
    await set_status(core, complaint.id, "waiting")  # type: ignore[arg-type]
    async with core.db.session() as session, session.begin():
        note = (await session.exec(select(Notification))).one()
        note.status, note.sent_at = "sent", utcnow()  # as the sender records it (the test channel sends nothing)
    assert "Waiting for your reply" in note.text
    shown = (await say(dispatcher, f"status {complaint.reference}")).replies[0].text
    assert "Waiting for your reply" in shown and "Reason: Fixed the mast" in shown  # what staff asked for
    added = await say(dispatcher, "Here is the photo of the receipt you asked for")
    assert added.intent == "case_message"
    back = await reload(core.db, complaint.id)  # type: ignore[arg-type]
    assert (back.status, back.paused_at) == ("in_review", None)
    kinds = [(e.kind, e.actor) for e in await events(core.db, complaint.id)]  # type: ignore[arg-type]
    assert kinds[-4:] == [
        ("resumed", "citizen"),
        ("status", "citizen"),
        ("citizen_message", "citizen"),
        ("bot_message", "bot"),  # "Added to your complaint", for staff to read
    ]


async def test_a_citizen_reply_inside_a_handover_resumes_a_waiting_complaint(
    core: Core, dispatcher: Dispatcher
) -> None:
    complaint = await filed(core)
    await set_status(core, complaint.id, "waiting")  # type: ignore[arg-type]
    async with core.db.session() as session, session.begin():
        stored = await session.get(Complaint, complaint.id)
        handover = await request_handover(
            session, "test", "citizen", language="en", display_name=None, complaint=stored
        )
        await take_over(session, handover, stored, "amna")
    answered = await say(dispatcher, "Here is the receipt you asked for")
    assert answered.intent == "handover_message"  # held by staff: the bot stays quiet, the message is kept
    back = await reload(core.db, complaint.id)  # type: ignore[arg-type]
    assert (back.status, back.paused_at) == ("in_review", None)  # its clock runs again: escalation and Overdue see it
    kinds = [(e.kind, e.actor) for e in await events(core.db, complaint.id)]  # type: ignore[arg-type]
    assert kinds[-3:] == [("resumed", "citizen"), ("status", "citizen"), ("citizen_message", "citizen")]


async def test_an_escalation_skips_a_waiting_complaint(core: Core) -> None:
    from bot.domain.escalation import escalate_round

    complaint = await filed(core, now=utcnow() - dt.timedelta(days=60))
    await set_status(core, complaint.id, "waiting")  # type: ignore[arg-type]
    assert await escalate_round(core.db, load_routing(core.settings.knowledge_dir)) == 0
    with pytest.raises(ComplaintError):
        await set_status(core, complaint.id, "closed")  # type: ignore[arg-type]


# -- over Telegram's buttons ------------------------------------------------------------------------------------


async def test_the_verdict_over_telegram_buttons(webhook: Harness) -> None:  # noqa: F811
    fake, core = webhook.fake, webhook.core
    solved = await filed(core, channel="telegram", user=str(CHAT))
    await set_status(core, solved.id, "resolved")  # type: ignore[arg-type]
    assert await deliver_due(core) == 1
    question = fake.called("sendMessage")[-1]
    assert parse_html(question["text"]).endswith("Was it solved?") and labels(question) == ["Yes", "No"]
    [rate] = await webhook.exchange(fake.press(CHAT, question, "Yes"), "is now closed")
    assert labels(rate) == ["1", "2", "3", "4", "5"]
    await webhook.exchange(fake.press(CHAT, rate, "5"), "5 of 5")
    assert ((await reload(core.db, solved.id)).status, (await reload(core.db, solved.id)).rating) == ("closed", 5)  # type: ignore[arg-type]

    unsolved = await filed(core, channel="telegram", user=str(CHAT))
    await set_status(core, unsolved.id, "resolved")  # type: ignore[arg-type]
    assert await deliver_due(core) == 1
    question = fake.called("sendMessage")[-1]
    await webhook.exchange(fake.press(CHAT, question, "No"), "what is still wrong")
    await webhook.exchange(fake.message_update(CHAT, "Still no signal at night"), "Reopened")
    again = await reload(core.db, unsolved.id)  # type: ignore[arg-type]
    assert (again.status, again.status_reason) == ("in_review", None)
