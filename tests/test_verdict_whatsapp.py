"""The citizen's verdict over WhatsApp: "Was it solved?" arrives as numbered options through the real twilio
client (tests/fake_twilio.py), and a "1" or "2" sent back answers it. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlmodel import select

from bot.domain.complaints import Draft, change_status, file_complaint
from bot.domain.outbox import deliver_due
from bot.models import Complaint, ComplaintEvent

from .fake_twilio import FakeTwilio
from .test_whatsapp import WA_ID, Bot, bot, fake, pytestmark, wa_settings  # noqa: F401 (fixtures, warnings)


async def resolved(bot: Bot) -> Complaint:  # noqa: F811
    async with bot.core.db.session() as session, session.begin():
        draft = Draft(channel="whatsapp", user_id=WA_ID, category="other", district="swat", description="no signal")
        complaint = await file_complaint(session, draft)
        await change_status(session, bot.core.kb, complaint, "resolved", actor="staff:amna", reason="Mast repaired")
        return complaint


async def test_the_verdict_over_whatsapp_numbered_options(bot: Bot, fake: FakeTwilio) -> None:  # noqa: F811
    assert "1." in (await bot.say("menu"))[0]  # the menu's numbered options come first
    solved = await resolved(bot)
    assert await deliver_due(bot.core) == 1
    body = fake.answered()[-1].form["Body"]
    assert body.endswith("Was it solved?\n\n1. Yes\n2. No")
    [thanks] = await bot.say("1")
    assert "is now closed" in thanks and "1. 1\n2. 2" in thanks
    [rated] = await bot.say("3")
    assert "3 of 5" in rated

    unsolved = await resolved(bot)
    assert await deliver_due(bot.core) == 1
    [why] = await bot.say("2")
    assert "what is still wrong" in why
    [done] = await bot.say("Still no signal after 8 pm")
    assert "Reopened" in done
    async with bot.core.db.session() as session:
        one = await session.get(Complaint, solved.id)
        two = await session.get(Complaint, unsolved.id)
        reasons = [e.note for e in await session.exec(select(ComplaintEvent).where(ComplaintEvent.kind == "reopened"))]
    assert one is not None and two is not None
    assert (one.status, one.rating) == ("closed", 3)
    assert (two.status, two.status_reason) == ("in_review", None) and reasons == ["Still no signal after 8 pm"]
