"""What the Telegram channel needs configured, and the Bot API's fixed names (paths, headers, update kinds)."""

from __future__ import annotations

import re

from bot.settings import Settings

CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query")
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as a webhook secret_token

# The client's command menu; descriptions are the texts `command_<name>` (English, and Urdu for Urdu clients).
# The dispatcher understands each one typed as text.
COMMANDS: tuple[str, ...] = (
    "start",
    "menu",
    "fees",
    "parks",
    "programmes",
    "complain",
    "status",
    "language",
    "help",
    "cancel",
)


def status_line(settings: Settings) -> str:
    """One line for `sahulat run`: on and in which mode, or off and why."""
    mode = settings.resolved_telegram_mode()
    if mode == "off":
        why = "TELEGRAM_BOT_TOKEN not set" if not settings.telegram_bot_token else "TELEGRAM_MODE=off"
        return f"Telegram: off, {why}"
    if mode == "webhook" and not settings.telegram_webhook_secret:
        return "Telegram: off, TELEGRAM_WEBHOOK_SECRET not set (webhook mode needs it)"
    if mode == "webhook":
        where = f"{settings.public_url}{WEBHOOK_PATH}" if settings.public_url else WEBHOOK_PATH
        return f"Telegram: on (webhook mode, {where}; register it once with `sahulat telegram set-webhook`)"
    return "Telegram: on (polling mode)"
