"""WhatsApp channel (Twilio). Being built: reports its configuration only."""

from __future__ import annotations

from bot.settings import Settings


def missing_settings(settings: Settings) -> list[str]:
    required = (
        ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
        ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
        ("TWILIO_WHATSAPP_FROM", settings.twilio_whatsapp_from),
    )
    return [name for name, value in required if not value]


def status_line(settings: Settings) -> str:
    missing = missing_settings(settings)
    if missing:
        return f"WhatsApp: off, {', '.join(missing)} not set"
    return "WhatsApp: off, this version has no WhatsApp channel yet"


def create(core: object) -> None:
    return None
