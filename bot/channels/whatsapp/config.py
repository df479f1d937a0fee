"""What the WhatsApp channel needs configured, and the paths Twilio is told to call."""

from __future__ import annotations

from bot.settings import Settings

CHANNEL = "whatsapp"
WEBHOOK_PATH = "/whatsapp/webhook"
STATUS_PATH = "/whatsapp/status"


def missing_settings(settings: Settings) -> list[str]:
    """The settings WhatsApp still needs. PUBLIC_URL counts once any Twilio setting is given: without it the
    webhook signatures cannot be checked."""
    required = (
        ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
        ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
        ("TWILIO_WHATSAPP_FROM", settings.twilio_whatsapp_from),
    )
    missing = [name for name, value in required if not value]
    if len(missing) < len(required) and not settings.public_url:
        missing.append("PUBLIC_URL")
    return missing


def status_line(settings: Settings) -> str:
    """One line for `sahulat run`: on and where, or off and why."""
    missing = missing_settings(settings)
    if missing == ["PUBLIC_URL"]:
        return "WhatsApp: off, PUBLIC_URL not set (Twilio's webhook signatures cannot be verified without it)"
    if missing:
        return f"WhatsApp: off, {', '.join(missing)} not set"
    return f"WhatsApp: on (webhook at {settings.public_url}{WEBHOOK_PATH})"
