"""Per-citizen rate limit, `my data` and erasure, log retention; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlmodel import select

from bot.core import Core
from bot.db import Database
from bot.domain.complaints import add_note, change_status
from bot.domain.privacy import ERASED_TEXT, erase_user, pseudonym, purge_logs
from bot.models import Complaint, ComplaintEvent, Notification, ProcessedMessage, UnansweredQuestion, utcnow
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming, Media, Outcome

from .conftest import make_dispatcher, scalar


def say(dispatcher: Dispatcher, text: str, user: str = "p1", channel: str = "telegram", **kw: object):  # type: ignore[no-untyped-def]
    rich = channel in ("telegram", "whatsapp")  # as those channels mark their messages
    return dispatcher.handle(Incoming(channel=channel, user_id=user, text=text, can_attach=rich, **kw))  # type: ignore[arg-type]


async def test_rate_limit_notice_once_then_silence_then_recovers(db: Database, knowledge) -> None:  # type: ignore[no-untyped-def]
    limited = make_dispatcher(db, knowledge, rate_limit=(3, dt.timedelta(seconds=60)))
    outcomes: list[Outcome] = [await say(limited, f"stp in swat {i}") for i in range(6)]
    assert [o.intent for o in outcomes[:3]] == ["answer"] * 3
    assert outcomes[3].intent == "rate_limited" and "faster than I can answer" in outcomes[3].replies[0].text
    assert [o.replies for o in outcomes[4:]] == [[], []]
    # Other citizens are not affected, and the limit is per channel identity, not shared by all webhook traffic.
    assert (await say(limited, "stp in swat", user="p2")).intent == "answer"
    assert (await say(limited, "stp in swat", channel="whatsapp")).intent == "answer"
    # Once the window has passed, the citizen is answered again.
    async with db.session() as session, session.begin():
        from bot.models import UserProfile

        profile = await session.get(UserProfile, ("telegram", "p1"))
        assert profile is not None
        profile.rate_window_start = utcnow() - dt.timedelta(seconds=61)
        session.add(profile)
    assert (await say(limited, "stp in swat")).intent == "answer"


async def _file(dispatcher: Dispatcher, user: str = "p1") -> str:
    for text in ["/complain", "1", "skip", "Swat", "There is no electricity in the park at all"]:
        await say(dispatcher, text, user=user)
    await say(dispatcher, "", user=user, media=(Media(kind="photo", ref="file-9", content_type="image/jpeg"),))
    await say(dispatcher, "skip", user=user)
    await say(dispatcher, "yes", user=user)
    filed = await say(dispatcher, "confirm", user=user)
    assert filed.intent == "complaint_filed"
    return str(filed.entry_id)


async def test_my_data_shows_what_is_stored(dispatcher: Dispatcher) -> None:
    await say(dispatcher, "hello", display_name="Ayesha")
    reference = await _file(dispatcher)
    shown = await say(dispatcher, "/mydata")
    text = shown.replies[0].text
    assert "Name: Ayesha" in text and reference in text
    assert "There is no electricity in the park at all" in text and "1 attachment" in text
    assert "messages you sent" in text and "kept for 30 days" in text
    urdu = await say(dispatcher, "میرا ڈیٹا")
    assert "سہولت اس چیٹ پر" in urdu.replies[0].text


async def test_delete_erases_personal_data_and_keeps_anonymised_complaints(
    dispatcher: Dispatcher, db: Database, core: Core
) -> None:
    await say(dispatcher, "hello", display_name="Ayesha")
    reference = await _file(dispatcher)
    async with db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint))).one()
        await add_note(session, core.kb, complaint, "Called Ayesha on her mobile", actor="staff:a", public=False)
        await change_status(session, core.kb, complaint, "in_review", actor="staff:a")  # a pending notification
        await change_status(
            session, core.kb, complaint, "rejected", actor="staff:a", reason="Ayesha (0300-1234567) filed it twice"
        )
    await say(dispatcher, "who won the cricket match")  # an unanswered question: theirs
    await say(dispatcher, "who won the hockey match", user="p2")  # someone else's
    ask = await say(dispatcher, "delete my data")
    assert [o.payload for o in ask.options] == ["erase:yes", "erase:no"]
    assert (await say(dispatcher, "hmm")).intent == "reask"  # a stray message erases nothing
    kept = await say(dispatcher, "2")
    assert kept.intent == "delete" and await scalar(db, "SELECT count(*) FROM user_profile WHERE user_id = 'p1'") == 1
    await say(dispatcher, "/delete")
    done = await say(dispatcher, "Yes, erase my data")
    assert done.intent == "deleted" and "1 complaint" in done.replies[0].text

    async with db.session() as session:
        complaint = (await session.exec(select(Complaint))).one()
        notes = [e.note for e in await session.exec(select(ComplaintEvent))]
        pending = list(await session.exec(select(Notification)))
        messages = list(await session.exec(select(ProcessedMessage)))
    assert complaint.reference == reference and complaint.erased_at is not None
    assert (complaint.description, complaint.display_name, complaint.attachments) == (ERASED_TEXT, None, [])
    assert complaint.user_id.startswith("erased:") and complaint.category == "park_facilities"
    assert notes == [None] * len(notes) and pending == []
    assert complaint.status == "rejected" and complaint.status_reason == ERASED_TEXT  # the reason was about them
    assert complaint.user_id != "erased:" + hashlib.sha256(b"telegram:p1").hexdigest()[:16]  # keyed, not a hash
    assert await scalar(db, "SELECT user_id FROM unanswered_question") == "p2"  # theirs erased, others' kept
    assert all(m.user_id.startswith("erased:") for m in messages if m.user_id != "p2")
    assert await scalar(db, "SELECT count(*) FROM user_profile WHERE user_id = 'p1'") == 0
    assert await scalar(db, "SELECT count(*) FROM conversation WHERE user_id = 'p1'") == 0
    # They can no longer see it, and the next message starts afresh.
    assert "no complaints" in (await say(dispatcher, "status")).replies[0].text
    assert f"{reference}" not in (await say(dispatcher, "my data")).replies[0].text


async def test_old_logs_are_purged(db: Database, dispatcher: Dispatcher) -> None:
    await say(dispatcher, "who won the cricket match")  # logs a message and an unanswered question
    old = utcnow() - dt.timedelta(days=31)
    async with db.session() as session, session.begin():
        for row in await session.exec(select(ProcessedMessage)):
            row.received_at = old
            session.add(row)
        for question in await session.exec(select(UnansweredQuestion)):
            question.created_at = old
            session.add(question)
    await say(dispatcher, "stp in swat")  # a recent one stays
    async with db.session() as session, session.begin():
        assert await purge_logs(session, days=30) == 2
    assert await scalar(db, "SELECT count(*) FROM processed_message") == 1
    assert await scalar(db, "SELECT count(*) FROM unanswered_question") == 0


def test_the_pseudonym_is_keyed_with_the_server_secret() -> None:
    """Without the key, trying every phone number does not find who an erased citizen was."""
    alias = pseudonym("whatsapp", "923001234567", "server secret one")
    assert alias == pseudonym("whatsapp", "923001234567", "server secret one")  # one person counted once
    assert alias != pseudonym("whatsapp", "923001234567", "server secret two")
    assert alias != "erased:" + hashlib.sha256(b"whatsapp:923001234567").hexdigest()[:16]


async def test_erasure_deletes_the_citizens_unanswered_questions(db: Database, dispatcher: Dispatcher) -> None:
    await say(dispatcher, "who won the cricket match", user="p1")
    await say(dispatcher, "who won the cricket match", user="p1", channel="whatsapp")  # the same id elsewhere
    async with db.session() as session, session.begin():
        await erase_user(session, "telegram", "p1", key="k")
    assert await scalar(db, "SELECT channel FROM unanswered_question") == "whatsapp"


async def test_one_chat_identity_leaves_at_most_so_many_unanswered_questions_a_day(db: Database, knowledge) -> None:  # type: ignore[no-untyped-def]
    """Citizens write these rows and staff read them all: one chat cannot fill the list (issue 20, finding 1)."""
    capped = make_dispatcher(db, knowledge, unanswered_per_day=3)
    for i in range(5):
        outcome = await say(capped, f"who won the cricket match number {i}")
        assert outcome.replies  # still answered, only not kept
    await say(capped, "who won the cricket match", user="p2")  # another citizen is not affected
    assert await scalar(db, "SELECT count(*) FROM unanswered_question WHERE user_id = 'p1'") == 3
    assert await scalar(db, "SELECT count(*) FROM unanswered_question WHERE user_id = 'p2'") == 1
    async with db.session() as session, session.begin():  # a day later there is room again
        for question in await session.exec(select(UnansweredQuestion)):
            question.created_at = utcnow() - dt.timedelta(days=1, minutes=1)
            session.add(question)
    await say(capped, "who won the cricket match again")
    assert await scalar(db, "SELECT count(*) FROM unanswered_question WHERE user_id = 'p1'") == 4


async def test_the_erasure_confirmation_survives_a_redelivery_and_a_channel_that_sends_later(
    dispatcher: Dispatcher, db: Database
) -> None:
    """The replies of the message that erased a citizen's data are kept like any other (they name nobody): a
    redelivery of that message gets them again, and a channel past its backlog finds them in the outbox."""
    await say(dispatcher, "delete my data", user="p7")
    confirm = Incoming(channel="telegram", user_id="p7", text="Yes, erase my data", message_id="erase-1")
    done = await dispatcher.handle(confirm)
    assert done.intent == "deleted"
    again = await dispatcher.handle(confirm)
    assert again.duplicate and [r.text for r in again.replies] == [r.text for r in done.replies]

    await say(dispatcher, "delete my data", user="p8")
    later = Incoming(
        channel="telegram", user_id="p8", text="Yes, erase my data", message_id="erase-2", reply_later=True
    )
    kept = await dispatcher.handle(later)
    assert kept.intent == "deleted" and kept.kept
    queued = await scalar(db, "SELECT text FROM notification WHERE user_id = 'p8' AND kind = 'reply'")
    assert queued == kept.replies[0].text
