"""WhatsApp's 24-hour rule for staff replies (bot/domain/reply_window.py), end to end with the real twilio client
against tests/fake_twilio.py: inside the window the reply goes as text; outside it the approved template invites
the citizen to reply and the text is held; once the citizen writes, the held texts arrive as text, in order, once
each, with several senders. The staff pages say so in the reply box. SQLite and PostgreSQL (`database_url`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from sqlmodel import col, select

from bot.channels.whatsapp import send as whatsapp_send
from bot.domain import reply_window
from bot.domain.complaints import Draft, file_complaint
from bot.domain.conversation import request_handover, staff_reply
from bot.domain.outbox import deliver_due
from bot.domain.privacy import erase_user
from bot.models import Complaint, Notification, UserProfile, utcnow

from . import test_staff, test_whatsapp
from .fake_twilio import FakeTwilio
from .test_staff import Live, add_complaint, signed_in, token
from .test_whatsapp import TEMPLATE_SID, WA_ID, Bot, set_last_inbound

live = test_staff.live
wa_settings, fake, bot = test_whatsapp.wa_settings, test_whatsapp.fake, test_whatsapp.bot
OLD = dt.timedelta(hours=25)
pytestmark = test_whatsapp.pytestmark  # twilio's own deprecation warnings, not ours


def test_the_window_is_the_whatsapp_channels_and_telegram_has_none() -> None:
    assert reply_window.WINDOWS["whatsapp"] == whatsapp_send.FREE_TEXT_WINDOW
    now = utcnow()
    assert reply_window.outside("whatsapp", now - OLD, now) and reply_window.outside("whatsapp", None, now)
    assert not reply_window.outside("whatsapp", now - dt.timedelta(hours=1), now)
    assert not reply_window.outside("telegram", now - dt.timedelta(days=30), now)


async def _complaint(bot: Bot) -> str:
    async with bot.core.db.session() as session, session.begin():
        draft = Draft(channel="whatsapp", user_id=WA_ID, category="other", district="swat", description="no signal")
        return (await file_complaint(session, draft)).reference


async def _reply(bot: Bot, reference: str, text: str) -> None:
    async with bot.core.db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await staff_reply(session, bot.core.kb, complaint=complaint, handover=None, text=text, username="amna")


def _texts(fake: FakeTwilio) -> list[str]:
    return [r.form["Body"] for r in fake.answered() if "Body" in r.form]


async def test_inside_the_window_a_staff_reply_is_text(bot: Bot, fake: FakeTwilio) -> None:
    await bot.say("hello")
    reference = await _complaint(bot)
    await _reply(bot, reference, "Is it back?")
    assert await deliver_due(bot.core) == 1
    [sent] = fake.answered()
    assert sent.form["Body"] == f"Staff, about your complaint {reference}: Is it back?"
    assert "ContentSid" not in sent.form


async def test_outside_the_window_the_invitation_goes_and_the_text_waits_for_the_citizen(
    bot: Bot, fake: FakeTwilio
) -> None:
    await bot.say("hello")
    reference = await _complaint(bot)
    await set_last_inbound(bot.core.db, WA_ID, utcnow() - OLD)
    await _reply(bot, reference, "Is it back?")
    await _reply(bot, reference, "Please check block B too.")
    assert await deliver_due(bot.core) == 1  # one invitation for both replies
    [invitation] = fake.answered()
    assert invitation.form["ContentSid"] == TEMPLATE_SID and "Body" not in invitation.form
    variable = json.loads(invitation.form["ContentVariables"])["1"]
    assert variable == bot.core.kb.texts("staff_reply_invitation", "en", reference=reference)
    assert "Is it back?" not in invitation.form["ContentVariables"]
    assert await deliver_due(bot.core) == 0  # held until the citizen writes
    assert len(fake.answered()) == 1

    # The citizen answers the invitation: the window is open, and two senders race for the held texts.
    await bot.say("yes, what is it?")
    sent = await asyncio.gather(deliver_due(bot.core), deliver_due(bot.core))
    assert sum(sent) == 2
    assert _texts(fake) == [
        f"Staff, about your complaint {reference}: Is it back?",
        f"Staff, about your complaint {reference}: Please check block B too.",
    ]
    assert await deliver_due(bot.core) == 0
    assert len(fake.answered()) == 3  # each once
    async with bot.core.db.session() as session:
        statuses = (await session.exec(select(Notification.status).order_by(col(Notification.id)))).all()
    assert statuses == ["sent", "sent", "sent"]

    # Inside the window again: the next reply goes straight away, as text.
    await _reply(bot, reference, "Thank you.")
    assert await deliver_due(bot.core) == 1
    assert _texts(fake)[-1] == f"Staff, about your complaint {reference}: Thank you."


async def test_a_conversation_about_something_new_and_a_restart_lose_nothing(bot: Bot, fake: FakeTwilio) -> None:
    await bot.say("hello")
    async with bot.core.db.session() as session, session.begin():
        handover = await request_handover(
            session, "whatsapp", WA_ID, language="en", display_name="Ayesha", complaint=None
        )
    await set_last_inbound(bot.core.db, WA_ID, utcnow() - OLD)
    async with bot.core.db.session() as session, session.begin():
        await staff_reply(session, bot.core.kb, complaint=None, handover=handover, text="Hello?", username="amna")
    assert await deliver_due(bot.core) == 1
    [invitation] = fake.answered()
    assert json.loads(invitation.form["ContentVariables"])["1"] == bot.core.kb.texts("staff_reply_invitation_new", "en")
    # The held text is a row in the database: any sender, in any process, sends it once the window opens.
    async with bot.core.db.session() as session, session.begin():
        profile = await session.get(UserProfile, ("whatsapp", WA_ID))
        assert profile is not None
        profile.last_inbound_at = utcnow()
    assert await deliver_due(bot.core) == 1
    assert _texts(fake) == ["Staff: Hello?"]


async def test_held_replies_are_erased_with_the_citizen(bot: Bot, fake: FakeTwilio) -> None:
    await bot.say("hello")
    reference = await _complaint(bot)
    await set_last_inbound(bot.core.db, WA_ID, utcnow() - OLD)
    await _reply(bot, reference, "Is it back?")
    async with bot.core.db.session() as session, session.begin():
        await erase_user(session, "whatsapp", WA_ID, key="test-key")
    async with bot.core.db.session() as session:
        held = (await session.exec(select(Notification).where(Notification.status == "held"))).all()
    assert held == []


async def _seen(live: Live, channel: str, user_id: str, ago: dt.timedelta) -> None:
    async with live.db.session() as session, session.begin():
        session.add(UserProfile(channel=channel, user_id=user_id, last_inbound_at=utcnow() - ago))


async def test_the_reply_box_says_when_the_reply_will_wait_for_the_citizen(live: Live) -> None:
    """Notice for a WhatsApp citizen outside the window, on the complaint page and the conversation page; none
    inside the window, none on Telegram. A reply sent there queues the invitation and holds the text."""
    old = await add_complaint(live, channel="whatsapp", user_id="923001110000")
    await _seen(live, "whatsapp", "923001110000", OLD)
    recent = await add_complaint(live, channel="whatsapp", user_id="923002220000")
    await _seen(live, "whatsapp", "923002220000", dt.timedelta(hours=2))
    telegram = await add_complaint(live, channel="telegram", user_id="4242")
    await _seen(live, "telegram", "4242", dt.timedelta(days=5))
    async with live.db.session() as session, session.begin():
        new = await request_handover(
            session, "whatsapp", "923003330000", language="en", display_name=None, complaint=None
        )
    await _seen(live, "whatsapp", "923003330000", dt.timedelta(days=3))
    async with signed_in(live, "amna", "agent") as client:
        assert 'id="reply-window-notice"' in (await client.get(f"/staff/complaints/{old}")).text
        assert "Outside WhatsApp's 24-hour window" in (await client.get(f"/staff/complaints/{old}")).text
        assert 'id="reply-window-notice"' not in (await client.get(f"/staff/complaints/{recent}")).text
        assert 'id="reply-window-notice"' not in (await client.get(f"/staff/complaints/{telegram}")).text
        assert 'id="reply-window-notice"' in (await client.get(f"/staff/inbox/{new.id}")).text
        sent = await client.post(
            f"/staff/complaints/{old}/reply", data={"csrf": await token(client), "text": "We fixed it."}
        )
        assert sent.status_code in (302, 303)
    async with live.db.session() as session:
        rows = (
            await session.exec(
                select(Notification).where(Notification.user_id == "923001110000").order_by(col(Notification.id))
            )
        ).all()
    assert [(r.kind, r.status) for r in rows] == [("invitation", "pending"), ("notification", "held")]
    assert "We fixed it." in rows[1].text and "We fixed it." not in rows[0].text
