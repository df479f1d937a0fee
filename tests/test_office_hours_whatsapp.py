"""Office hours on WhatsApp (real twilio client and signatures against tests/fake_twilio.py): out of hours a citizen
asking for a person is told the next opening, and the bot goes on answering."""

from __future__ import annotations

from .test_office_hours import THURSDAY_EVENING, at
from .test_whatsapp import Bot, bot, fake, wa_settings  # noqa: F401  (fixtures)


async def test_out_of_hours_reply_on_whatsapp(bot: Bot) -> None:  # noqa: F811
    at(bot.core.dispatcher, THURSDAY_EVENING)
    told = await bot.say("insaan se baat", wa_id="923001112233")
    assert "Peer 17 Aug 2026, 09:00 baje" in told[0] and "Hamara staff is waqt daftar mein nahin" in told[0]
    answered = await bot.say("startup ki registration fee kitni hai", wa_id="923001112233")
    assert answered and "1,000" in answered[0]
