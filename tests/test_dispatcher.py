"""The core's routing, options, flows and de-duplication, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest
from sqlmodel import select

from bot.db import Database
from bot.models import Conversation, UnansweredQuestion, UserProfile
from handlers.dispatcher import Dispatcher, pick_option
from handlers.messages import Incoming

from .conftest import make_dispatcher, scalar


def msg(text: str, user: str = "u1", **kwargs: object) -> Incoming:
    return Incoming(channel="test", user_id=user, text=text, **kwargs)  # type: ignore[arg-type]


async def conversation(db: Database, user: str = "u1") -> Conversation:
    async with db.session() as session:
        return (await session.exec(select(Conversation).filter_by(channel="test", user_id=user))).one()


async def profile(db: Database, user: str = "u1") -> UserProfile:
    async with db.session() as session:
        return (await session.exec(select(UserProfile).filter_by(channel="test", user_id=user))).one()


def test_pick_option_by_number_and_label() -> None:
    options = [{"label": "English", "payload": "lang:en"}, {"label": "اردو (Urdu)", "payload": "lang:ur"}]
    assert pick_option("2", options) == "lang:ur"
    assert pick_option(" 1 ", options) == "lang:en"
    assert pick_option("۲", options) == "lang:ur"  # Eastern digits count too
    assert pick_option("english", options) == "lang:en"
    assert pick_option("اردو (urdu)", options) == "lang:ur"
    assert pick_option("3", options) is None
    assert pick_option("0", options) is None
    assert pick_option("something else", options) is None
    assert pick_option("1", []) is None


async def test_greeting_shows_menu_with_options(dispatcher: Dispatcher) -> None:
    outcome = await dispatcher.handle(msg("assalam o alaikum"))
    assert outcome.intent == "greeting"
    labels = [o.label for o in outcome.options]
    assert labels[:3] == ["Technology parks", "Registration fees and exemptions", "Programmes"]


async def test_option_picked_by_number_and_by_label(dispatcher: Dispatcher, db: Database) -> None:
    await dispatcher.handle(msg("menu"))
    fees = await dispatcher.handle(msg("2"))  # "Registration fees and exemptions", by number
    assert fees.intent == "fees"
    label = next(o.label for o in fees.options if o.payload == "who:startup")
    city = await dispatcher.handle(msg(f"  {label.upper()} "))  # by label, in any case
    assert (await conversation(db)).data == {"who": "startup"}
    assert city.intent == "fees"
    answer = await dispatcher.handle(msg("Swat"))
    assert answer.entry_id == "fee_startup_registration"
    assert "Rs 1,000" in answer.replies[0].text
    assert "Source:" in answer.replies[0].text


async def test_language_flow_by_number_remembers_choice(dispatcher: Dispatcher, db: Database) -> None:
    prompt = await dispatcher.handle(msg("language"))
    assert [o.payload for o in prompt.options] == ["lang:en", "lang:ur", "lang:roman"]
    assert (await conversation(db)).flow == "language"
    done = await dispatcher.handle(msg("2"))
    assert done.language == "ur"
    assert (await profile(db)).language == "ur"
    assert (await conversation(db)).flow is None
    # Latin-script questions now get the Urdu answer.
    answer = await dispatcher.handle(msg("startup registration fee"))
    assert answer.entry_id == "fee_startup_registration"
    assert "ماخذ" in answer.replies[0].text


async def test_language_flow_sets_roman_urdu(dispatcher: Dispatcher, db: Database) -> None:
    prompt = await dispatcher.handle(msg("language"))
    assert [o.label for o in prompt.options][2] == "Roman Urdu"
    done = await dispatcher.handle(msg("3"))
    assert done.language == "roman"
    assert done.replies[0].text == "Theek hai. Ab main Roman Urdu mein jawab doon ga."
    assert (await profile(db)).language == "roman"
    assert (await conversation(db)).flow is None
    # Latin-script questions now get the Roman Urdu answer and source line.
    answer = await dispatcher.handle(msg("startup registration fee"))
    assert answer.entry_id == "fee_startup_registration"
    assert answer.language == "roman"
    text = answer.replies[0].text
    assert "PSEB ne startups ki registration fee Rs 5,000 se kam kar ke Rs 1,000 kar di hai." in text
    assert "Zariya: MoITT secretary" in text
    # By button too, and Urdu script still gets Urdu.
    await dispatcher.handle(msg("/language"))
    await dispatcher.handle(msg("", payload="lang:roman"))
    assert (await profile(db)).language == "roman"
    chosen = await dispatcher.handle(msg("پی ایس ای بی رجسٹریشن فیس کتنی ہے؟"))
    assert chosen.language == "roman"  # a chosen language stays, whatever the user writes in


async def test_button_payload_goes_straight_to_the_flow(dispatcher: Dispatcher, db: Database) -> None:
    await dispatcher.handle(msg("/language"))
    await dispatcher.handle(msg("", payload="lang:ur"))
    assert (await profile(db)).language == "ur"


async def test_cancel_leaves_a_flow_and_keeps_nothing(dispatcher: Dispatcher, db: Database) -> None:
    await dispatcher.handle(msg("language"))
    outcome = await dispatcher.handle(msg("cancel"))
    assert outcome.intent == "cancel"
    state = await conversation(db)
    assert state.flow is None and state.step is None and state.data == {}
    assert (await profile(db)).language is None
    # The options are now the menu's, so "2" no longer means Urdu: it opens the fee checker.
    after = await dispatcher.handle(msg("2"))
    assert after.intent == "fees"
    assert (await profile(db)).language is None


async def test_menu_and_urdu_cancel_leave_a_flow(dispatcher: Dispatcher, db: Database) -> None:
    await dispatcher.handle(msg("language"))
    assert (await dispatcher.handle(msg("menu"))).intent == "menu"
    assert (await conversation(db)).flow is None
    await dispatcher.handle(msg("language"))
    assert (await dispatcher.handle(msg("منسوخ"))).intent == "cancel"
    assert (await conversation(db)).flow is None


async def test_cancel_without_flow_says_so(dispatcher: Dispatcher) -> None:
    outcome = await dispatcher.handle(msg("/cancel"))
    assert "nothing to cancel" in outcome.replies[0].text.lower()


async def test_bad_answer_is_reasked_once_then_flow_is_left(dispatcher: Dispatcher, db: Database) -> None:
    await dispatcher.handle(msg("language"))
    again = await dispatcher.handle(msg("klingon"))
    assert again.intent == "reask"
    assert [o.payload for o in again.options] == ["lang:en", "lang:ur", "lang:roman"]
    assert (await conversation(db)).flow == "language"
    gave_up = await dispatcher.handle(msg("still klingon"))
    assert gave_up.intent == "flow_abandoned"
    assert (await conversation(db)).flow is None


async def test_expired_flow_is_dropped(db: Database, knowledge) -> None:  # type: ignore[no-untyped-def]
    quick = make_dispatcher(db, knowledge, flow_timeout=dt.timedelta(seconds=-1))
    await quick.handle(msg("fee checker"))
    # The flow expired at once, so "startup" is read as a question, not as the flow's answer.
    outcome = await quick.handle(msg("startup"))
    assert outcome.intent != "fees" and (await conversation(db)).flow is None


async def test_duplicate_message_id_is_processed_once(dispatcher: Dispatcher, db: Database) -> None:
    first = await dispatcher.handle(msg("language", message_id="m-1"))
    again = await dispatcher.handle(msg("language", message_id="m-1"))
    assert not first.duplicate and first.replies
    assert again.duplicate and again.replies == first.replies  # the same replies, the message not handled again
    assert await scalar(db, "SELECT count(*) FROM processed_message") == 1
    # The same id on another channel is a different message.
    other = await dispatcher.handle(Incoming(channel="other", user_id="u1", text="hi", message_id="m-1"))
    assert not other.duplicate


async def test_concurrent_redeliveries_are_processed_once(dispatcher: Dispatcher, db: Database) -> None:
    outcomes = await asyncio.gather(*(dispatcher.handle(msg("language", message_id="same")) for _ in range(8)))
    assert sum(not o.duplicate for o in outcomes) == 1
    assert await scalar(db, "SELECT count(*) FROM processed_message") == 1


async def test_concurrent_first_messages_from_one_user(dispatcher: Dispatcher, db: Database) -> None:
    """Two workers creating the same user's rows at once neither fail nor duplicate them."""
    outcomes = await asyncio.gather(*(dispatcher.handle(msg(f"hello {i}", user="new")) for i in range(6)))
    assert all(o.replies for o in outcomes)
    assert await scalar(db, "SELECT count(*) FROM user_profile WHERE user_id = 'new'") == 1
    assert await scalar(db, "SELECT count(*) FROM processed_message") == 6


async def test_a_transient_failure_does_not_claim_the_message(dispatcher: Dispatcher, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The database lost mid-handling rolls the claim back and is raised (the channel answers 503), so the
    redelivery is processed. (Any other failure keeps the message as a dead letter: tests/test_deadletters.py.)"""
    import handlers.dispatcher as module

    async def broken(ctx):  # type: ignore[no-untyped-def]
        raise ConnectionResetError("connection lost")

    monkeypatch.setattr(module, "answer_question", broken)
    with pytest.raises(ConnectionResetError):
        await dispatcher.handle(msg("stp in swat", message_id="crash-1"))
    monkeypatch.undo()
    retried = await dispatcher.handle(msg("stp in swat", message_id="crash-1"))
    assert not retried.duplicate
    assert retried.entry_id == "park_swat"


async def test_unanswered_questions_are_logged(dispatcher: Dispatcher, db: Database) -> None:
    await dispatcher.handle(msg("who won the cricket match"))
    await dispatcher.handle(msg("fee"))
    await dispatcher.handle(msg("stp in swat"))
    async with db.session() as session:
        rows = (await session.exec(select(UnansweredQuestion).order_by(UnansweredQuestion.id))).all()
    assert [(r.text, r.intent) for r in rows] == [("who won the cricket match", "out_of_scope"), ("fee", "clarify")]
    assert rows[1].candidates and rows[1].candidates[0]["entry_id"].startswith("fee_")
    assert rows[0].channel == "test" and rows[0].language == "en"


async def test_too_long_and_empty_messages_get_clear_replies(dispatcher: Dispatcher) -> None:
    long = await dispatcher.handle(msg("stp " * 5000))
    assert long.intent == "too_long" and "too long" in long.replies[0].text
    empty = await dispatcher.handle(msg("   \u200b  "))
    assert empty.intent == "empty" and empty.replies[0].text


async def test_urdu_script_gets_urdu_and_hint_is_used(dispatcher: Dispatcher) -> None:
    urdu = await dispatcher.handle(msg("سوات میں سافٹ ویئر ٹیکنالوجی پارک"))
    assert urdu.language == "ur" and urdu.entry_id == "park_swat"
    # The phone's language counts where the message does not show one ("swat stp" could be either).
    hinted = await dispatcher.handle(msg("swat stp", user="u2", language_hint="ur-PK"))
    assert hinted.language == "ur"
    written = await dispatcher.handle(msg("is there a software park in swat", user="u3", language_hint="ur-PK"))
    assert written.language == "en"  # ...but what the user writes in comes first


async def test_state_rows_read_the_same_through_the_orm(dispatcher: Dispatcher, db: Database) -> None:
    """The per-message SQL stores rows exactly as the ORM does: same values, aware UTC times, JSON intact."""
    before = dt.datetime.now(dt.UTC)
    await dispatcher.handle(msg("language", display_name="Ayesha"))
    await dispatcher.handle(msg("2"))  # Urdu
    await dispatcher.handle(msg("menu"))
    assert (await dispatcher.handle(msg("2"))).intent == "fees"
    assert (await dispatcher.handle(msg("klingon"))).intent == "reask"  # the flow now holds data
    stored_profile, stored = await profile(db), await conversation(db)
    assert (stored_profile.language, stored_profile.display_name, stored_profile.rate_count) == ("ur", "Ayesha", 5)
    assert stored_profile.rate_notified is False
    assert before <= stored_profile.last_inbound_at <= dt.datetime.now(dt.UTC)
    assert stored_profile.first_seen_at <= stored_profile.last_inbound_at
    assert stored.flow == "fees" and stored.data == {"_retries": 1}
    assert stored.expires_at is not None and stored.expires_at > before
    assert stored.options and all(set(o) == {"label", "payload"} for o in stored.options)

    # ...and a row the ORM writes is what the next message sees: here a flow that lapsed a minute ago.
    async with db.session() as session, session.begin():
        row = await session.get(Conversation, ("test", "u1"))
        assert row is not None
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        session.add(row)
    await dispatcher.handle(msg("hello"))
    assert (await conversation(db)).flow is None


async def test_replies_the_channel_cannot_deliver_now_are_stored_with_the_message(
    dispatcher: Dispatcher, db: Database
) -> None:
    """`reply_later`: the replies go to the outbox in the message's own transaction, as the ORM reads them."""
    from bot.models import Notification

    message = Incoming(channel="test", user_id="u-later", text="hello", message_id="later-1", reply_later=True)
    outcome = await dispatcher.handle(message)
    assert outcome.kept and outcome.replies
    async with db.session() as session:
        kept = list(await session.exec(select(Notification).order_by(Notification.id)))
    assert [(n.kind, n.status, n.user_id, n.text) for n in kept] == [
        ("reply", "pending", "u-later", reply.text) for reply in outcome.replies
    ]
    assert kept[-1].options == [{"label": o.label, "payload": o.payload} for o in outcome.replies[-1].options]
    assert kept[0].next_attempt_at.tzinfo is not None
    assert (await dispatcher.handle(message)).duplicate  # a redelivery keeps nothing more
    assert await scalar(db, "SELECT count(*) FROM notification") == len(kept)


async def test_a_question_that_goes_unanswered_is_logged_for_staff(dispatcher: Dispatcher, db: Database) -> None:
    outcome = await dispatcher.handle(Incoming(channel="test", user_id="u-q", text="what is the weather on mars"))
    assert outcome.intent == "out_of_scope"
    async with db.session() as session:
        [logged] = list(await session.exec(select(UnansweredQuestion)))
    assert (logged.channel, logged.intent, logged.handled) == ("test", "out_of_scope", False)
    assert logged.text == "what is the weather on mars" and isinstance(logged.candidates, list)
    assert logged.created_at.tzinfo is not None


async def test_replies_kept_in_the_outbox_are_not_sent_again_on_a_redelivery(dispatcher: Dispatcher) -> None:
    """A channel past its backlog leaves the replies to the outbox's sender; if the platform then redelivers the
    message, the channel must find them already delivered, or the citizen would get them twice."""
    first = Incoming(
        channel="telegram", user_id="u9", text="startup registration fee", message_id="m-9", reply_later=True
    )
    handled = await dispatcher.handle(first)
    assert handled.kept and handled.replies
    again = await dispatcher.handle(dataclasses.replace(first, reply_later=False))
    assert again.duplicate and again.delivered == len(again.replies) == len(handled.replies)
