"""Complaint conversations in the core, on SQLite and PostgreSQL: a citizen's replies to a complaint's update go
to the complaint (not the matcher), several updated complaints are asked about, "ask the bot instead" works, and
a handover request pauses the bot until "back to the bot"."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import col, select

from bot.db import Database
from bot.domain.complaints import Draft, add_note, change_status, file_complaint
from bot.domain.conversation import hand_back, staff_reply, take_over
from bot.models import Complaint, ComplaintEvent, Handover, HandoverMessage, Notification, utcnow
from handlers.dispatcher import Dispatcher
from handlers.handover_words import HandoverWords
from handlers.messages import Incoming, Media
from knowledge.loader import KnowledgeBase

USER = "citizen-1"


def msg(text: str = "", **kwargs: object) -> Incoming:
    return Incoming(channel="test", user_id=USER, text=text, **kwargs)  # type: ignore[arg-type]


async def complaint_with_note(db: Database, kb: KnowledgeBase, *, sent_ago: dt.timedelta, external_id: str) -> str:
    """A filed complaint whose public note went out `sent_ago` as message `external_id`."""
    async with db.session() as session, session.begin():
        draft = Draft(channel="test", user_id=USER, category="other", district="swat", description="internet down")
        complaint = await file_complaint(session, draft)
        await add_note(session, kb, complaint, "Engineers visited; is it working now?", actor="staff:amna", public=True)
        await session.flush()
        note = (await session.exec(select(Notification).where(Notification.complaint_id == complaint.id))).one()
        note.status, note.sent_at, note.external_id = "sent", utcnow() - sent_ago, external_id
        session.add(note)
        return complaint.reference


async def citizen_messages(db: Database, reference: str) -> list[ComplaintEvent]:
    async with db.session() as session:
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        rows = await session.exec(
            select(ComplaintEvent)
            .where(ComplaintEvent.complaint_id == complaint.id, ComplaintEvent.kind == "citizen_message")
            .order_by(col(ComplaintEvent.id))
        )
        return list(rows)


async def all_sent(db: Database) -> None:
    """The outbox's work, as far as these tests need it: every pending notification sent now."""
    async with db.session() as session, session.begin():
        for n, note in enumerate(await session.exec(select(Notification).where(Notification.status == "pending"))):
            note.status, note.sent_at, note.external_id = "sent", utcnow(), f"out-{note.id}-{n}"
            session.add(note)


QUESTION = "what is the registration fee for a startup"


def test_person_and_back_phrases_come_from_data_in_three_languages(kb: KnowledgeBase) -> None:
    assert kb.handover is not None
    words = HandoverWords.of(kb.handover)
    for said in ("talk to a person", "Agent", "insaan se baat", "کسی افسر سے بات", "please let me talk to a human"):
        assert words.person.said(said), said
    for said in ("how do I become a PSEB agent", "what does a person pay to register a startup", ""):
        assert not words.person.said(said), said
    for said in ("back to the bot", "wapas bot", "واپس بوٹ"):
        assert words.back.said(said), said


async def test_a_reply_after_a_note_lands_in_the_complaint_confirmed_once(
    dispatcher: Dispatcher, db: Database, kb: KnowledgeBase
) -> None:
    reference = await complaint_with_note(db, kb, sent_ago=dt.timedelta(hours=2), external_id="m-1")
    first = await dispatcher.handle(msg("it is still down in block B"))
    assert first.intent == "case_message"
    assert first.replies[0].text == f"Added to your complaint {reference}; staff will see it."
    assert [o.payload for o in first.options] == [f"case:ask:{reference}"]
    photo = Media(kind="photo", ref="file-9", content_type="image/jpeg")
    second = await dispatcher.handle(msg("here is a photo", media=(photo,)))
    assert second.intent == "case_message" and second.replies == []  # confirmed once, then quiet
    events = await citizen_messages(db, reference)
    assert [e.note for e in events] == ["it is still down in block B", "here is a photo"]
    assert events[1].attachments == [{"kind": "photo", "ref": "file-9", "content_type": "image/jpeg"}]
    assert events[0].actor == "citizen" and not events[0].public


async def test_ask_the_bot_instead_sends_the_message_to_the_matcher_and_closes_the_window(
    dispatcher: Dispatcher, db: Database, kb: KnowledgeBase
) -> None:
    reference = await complaint_with_note(db, kb, sent_ago=dt.timedelta(hours=1), external_id="m-1")
    await dispatcher.handle(msg("what is the registration fee for a startup"))
    answered = await dispatcher.handle(msg(payload=f"case:ask:{reference}"))
    assert answered.intent not in ("case_message", "menu") and answered.replies
    later = await dispatcher.handle(msg("what is the registration fee for a company"))
    assert later.intent != "case_message"
    assert len(await citizen_messages(db, reference)) == 1


async def test_outside_the_window_only_a_reply_to_the_notification_counts(
    dispatcher: Dispatcher, db: Database, kb: KnowledgeBase
) -> None:
    reference = await complaint_with_note(db, kb, sent_ago=dt.timedelta(hours=80), external_id="m-77")
    question = await dispatcher.handle(msg("it is still down"))
    assert question.intent != "case_message"
    replied = await dispatcher.handle(msg("it is still down", reply_to="m-77"))
    assert replied.intent == "case_message" and reference in replied.replies[0].text


async def test_with_several_updated_complaints_the_citizen_picks_one(
    dispatcher: Dispatcher, db: Database, kb: KnowledgeBase
) -> None:
    first = await complaint_with_note(db, kb, sent_ago=dt.timedelta(hours=3), external_id="m-1")
    second = await complaint_with_note(db, kb, sent_ago=dt.timedelta(hours=1), external_id="m-2")
    asked = await dispatcher.handle(msg("still nothing"))
    assert asked.intent == "case_which"
    assert [o.label for o in asked.options][:2] == [second, first]
    picked = await dispatcher.handle(msg("2"))  # by number, as on WhatsApp
    assert picked.intent == "case_message" and first in picked.replies[0].text
    assert [e.note for e in await citizen_messages(db, first)] == ["still nothing"]
    assert await citizen_messages(db, second) == []


async def test_a_handover_pauses_the_bot_until_back_to_the_bot(
    dispatcher: Dispatcher, db: Database, kb: KnowledgeBase
) -> None:
    requested = await dispatcher.handle(msg("insaan se baat"))
    assert requested.intent == "handover_request"
    assert [o.payload for o in requested.options] == ["handover:end"]
    quiet = await dispatcher.handle(msg("what is the registration fee for a startup"))
    assert quiet.intent == "handover_message" and quiet.replies == []
    menu = await dispatcher.handle(msg("menu"))  # commands still work
    assert menu.intent == "menu"
    back = await dispatcher.handle(msg("back to the bot"))
    assert back.intent == "handover_end"
    answered = await dispatcher.handle(msg("what is the registration fee for a startup"))
    assert answered.intent not in ("handover_message", "case_message")
    async with db.session() as session:
        handover = (await session.exec(select(Handover))).one()
        said = list(await session.exec(select(HandoverMessage).order_by(col(HandoverMessage.id))))
    assert handover.status == "closed" and handover.closed_by == "citizen" and handover.complaint_id is None
    kinds = [(m.kind, m.text) for m in said]
    assert kinds == [
        ("handover_requested", None),
        ("bot_message", requested.replies[0].text),  # what the citizen was told, for staff to read
        ("citizen_message", "what is the registration fee for a startup"),
        ("handed_back", None),
        ("bot_message", back.replies[0].text),
    ]


async def test_a_handover_about_a_complaint_and_a_staff_reply_through_the_outbox(
    dispatcher: Dispatcher, db: Database, kb: KnowledgeBase
) -> None:
    reference = await complaint_with_note(db, kb, sent_ago=dt.timedelta(hours=200), external_id="m-1")
    which = await dispatcher.handle(msg(payload="handover:start"))  # the menu's option
    assert which.intent == "handover_which"
    assert [o.payload for o in which.options] == [f"handover:open:{reference}", "handover:open:new"]
    opened = await dispatcher.handle(msg("1"))
    assert opened.intent == "handover_request" and reference in opened.replies[0].text
    await dispatcher.handle(msg("the router in block B is off"))
    async with db.session() as session, session.begin():
        handover = (await session.exec(select(Handover))).one()
        complaint = await session.get(Complaint, handover.complaint_id)
        assert complaint is not None
        await take_over(session, handover, complaint, "amna")
        await staff_reply(session, kb, complaint=complaint, handover=handover, text="We are on it", username="amna")
    quiet = await dispatcher.handle(msg("thank you"))
    assert quiet.replies == []
    async with db.session() as session, session.begin():
        handover = (await session.exec(select(Handover))).one()
        complaint = await session.get(Complaint, handover.complaint_id)
        await hand_back(session, kb, handover, complaint, "amna", close=False)
    async with db.session() as session:
        events = list(
            await session.exec(
                select(ComplaintEvent)
                .where(ComplaintEvent.complaint_id == complaint.id)
                .order_by(col(ComplaintEvent.id))  # type: ignore[union-attr]
            )
        )
        queued = list(await session.exec(select(Notification).order_by(col(Notification.id))))
    history = [(e.kind, e.actor, e.note) for e in events if e.kind not in ("filed", "public_note")]
    assert history == [
        ("handover_requested", "citizen", None),
        ("bot_message", "bot", opened.replies[0].text),
        ("citizen_message", "citizen", "the router in block B is off"),
        ("taken_over", "staff:amna", None),
        ("staff_reply", "staff:amna", "We are on it"),
        ("citizen_message", "citizen", "thank you"),
        ("handed_back", "staff:amna", None),
        ("bot_message", "bot", queued[-1].text),  # what the citizen was told, for staff to read
    ]
    assert queued[-2].text == f"Staff, about your complaint {reference}: We are on it"
    assert queued[-2].status == "pending" and queued[-2].event_id is not None
    assert "back with the bot" in queued[-1].text


def test_both_channels_read_the_replied_to_message() -> None:
    from starlette.datastructures import FormData

    from bot.channels.telegram.parse import to_incoming
    from bot.channels.whatsapp.parse import parse_incoming

    update = {
        "update_id": 7,
        "message": {
            "message_id": 12,
            "chat": {"id": 42, "type": "private"},
            "text": "still down",
            "reply_to_message": {"message_id": 1003, "chat": {"id": 42, "type": "private"}},
        },
    }
    telegram = to_incoming(update)
    assert telegram is not None and telegram.reply_to == "1003"
    form = FormData(
        [("MessageSid", "SM" + "1" * 32), ("From", "whatsapp:+923001234567"), ("WaId", "923001234567")]
        + [("Body", "still down"), ("OriginalRepliedMessageSid", "SM" + "a" * 32)]
        + [("OriginalRepliedMessageSender", "whatsapp:+14155238886")]
    )
    assert parse_incoming(form).reply_to == "SM" + "a" * 32
    plain = [("MessageSid", "SM" + "2" * 32), ("From", "whatsapp:+92300"), ("WaId", "92300")]
    assert parse_incoming(FormData(plain)).reply_to is None


@pytest.mark.parametrize("ending", ["citizen", "hand_back", "close"])
async def test_after_a_conversation_about_a_complaint_ends_the_bot_answers_again(
    dispatcher: Dispatcher, db: Database, kb: KnowledgeBase, ending: str
) -> None:
    """Staff replies and the conversation's end message go out about the complaint; once the conversation ended
    ("back to the bot", staff hand back or close) the citizen's questions are the bot's, until the next update."""
    reference = await complaint_with_note(db, kb, sent_ago=dt.timedelta(hours=200), external_id="m-1")
    await dispatcher.handle(msg(payload=f"handover:open:{reference}"))
    async with db.session() as session, session.begin():
        handover = (await session.exec(select(Handover))).one()
        complaint = await session.get(Complaint, handover.complaint_id)
        await take_over(session, handover, complaint, "amna")
        await staff_reply(session, kb, complaint=complaint, handover=handover, text="Is it fixed?", username="amna")
    await all_sent(db)
    if ending == "citizen":
        assert (await dispatcher.handle(msg("back to the bot"))).intent == "handover_end"
    else:
        async with db.session() as session, session.begin():
            handover = (await session.exec(select(Handover))).one()
            complaint = await session.get(Complaint, handover.complaint_id)
            await hand_back(session, kb, handover, complaint, "amna", close=ending == "close")
        await all_sent(db)  # "You are back with the bot", about the complaint
    answered = await dispatcher.handle(msg(QUESTION))
    assert answered.intent not in ("case_message", "handover_message", "case_which"), answered.intent
    assert await citizen_messages(db, reference) == []
    async with db.session() as session, session.begin():  # a later update opens the reply window again
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await add_note(session, kb, complaint, "Please send a photo", actor="staff:amna", public=True)
    await all_sent(db)
    assert (await dispatcher.handle(msg("here it is"))).intent == "case_message"
    assert [e.note for e in await citizen_messages(db, reference)] == ["here it is"]


@pytest.mark.parametrize("outcome", ["closed", "rejected"])
async def test_a_closed_or_rejected_complaint_catches_no_more_messages(
    dispatcher: Dispatcher, db: Database, kb: KnowledgeBase, outcome: str
) -> None:
    reference = await complaint_with_note(db, kb, sent_ago=dt.timedelta(hours=1), external_id="m-1")
    async with db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        if outcome == "rejected":
            await change_status(session, kb, complaint, "rejected", actor="staff:amna", reason="not ours")
        else:
            await change_status(session, kb, complaint, "resolved", actor="staff:amna")
    await all_sent(db)
    if outcome == "closed":
        # a resolved complaint still waits for the verdict: the citizen's words reach it
        assert (await dispatcher.handle(msg("the water came back yesterday"))).intent == "case_message"
        assert (await dispatcher.handle(msg(payload=f"verdict:yes:{reference}"))).intent == "verdict"
        assert (await dispatcher.handle(msg(payload="stars:5"))).intent == "rating"
    before = len(await citizen_messages(db, reference))
    answered = await dispatcher.handle(msg(QUESTION))
    assert answered.intent not in ("case_message", "case_which"), answered.intent
    replied = await dispatcher.handle(msg(QUESTION, reply_to="m-1"))  # even in reply to one of its messages
    assert replied.intent not in ("case_message", "case_which"), replied.intent
    assert len(await citizen_messages(db, reference)) == before
    async with db.session() as session:
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
    assert complaint.status == outcome


@pytest.mark.parametrize("answer", ["yes", "no"])
async def test_the_bots_own_questions_are_answered_during_a_handover(
    dispatcher: Dispatcher, db: Database, kb: KnowledgeBase, answer: str
) -> None:
    """Staff resolve the complaint while holding the conversation: the "Was it solved?" buttons, the rating and the
    reason for "no" are the bot's answers; the citizen's other messages stay with staff."""
    reference = await complaint_with_note(db, kb, sent_ago=dt.timedelta(hours=200), external_id="m-1")
    await dispatcher.handle(msg(payload=f"handover:open:{reference}"))
    async with db.session() as session, session.begin():
        handover = (await session.exec(select(Handover))).one()
        complaint = await session.get(Complaint, handover.complaint_id)
        assert complaint is not None
        await take_over(session, handover, complaint, "amna")
        await change_status(session, kb, complaint, "resolved", actor="staff:amna")
    await all_sent(db)
    verdict = await dispatcher.handle(msg(payload=f"verdict:{answer}:{reference}"))
    assert verdict.intent == "verdict" and verdict.replies
    if answer == "yes":
        rated = await dispatcher.handle(msg("4"))  # the rating's options, by number
        assert rated.intent == "rating" and rated.replies
    else:
        reopened = await dispatcher.handle(msg("the pipe still leaks"))
        assert reopened.intent == "reopen" and reopened.replies
    quiet = await dispatcher.handle(msg("thank you"))
    assert quiet.intent == "handover_message" and quiet.replies == []
    async with db.session() as session:
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        handover = (await session.exec(select(Handover))).one()
    assert handover.status == "taken"
    assert complaint.status == ("closed" if answer == "yes" else "in_review")
    assert complaint.rating == (4 if answer == "yes" else None)
    assert [e.note for e in await citizen_messages(db, reference)] == ["thank you"]
