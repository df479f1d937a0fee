"""Telegram channel (python-telegram-bot). Being built: reports its configuration only."""

from __future__ import annotations

from bot.settings import Settings


def status_line(settings: Settings) -> str:
    mode = settings.resolved_telegram_mode()
    if mode == "off":
        why = "TELEGRAM_BOT_TOKEN not set" if not settings.telegram_bot_token else "TELEGRAM_MODE=off"
        return f"Telegram: off, {why}"
    return f"Telegram: off, this version has no Telegram channel yet ({mode} mode configured)"


def create(core: object) -> None:
    return None
