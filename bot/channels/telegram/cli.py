"""`sahulat telegram set-webhook | delete-webhook`: register or remove the bot's webhook, once per deploy."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot.channels.telegram.client import new_bot, register_commands
from bot.channels.telegram.config import ALLOWED_UPDATES, SECRET_PATTERN, WEBHOOK_PATH
from bot.settings import Settings


def _fail(message: str) -> int:
    print(f"sahulat: error: {message}", file=sys.stderr)
    return 1


async def _call_api(settings: Settings, action: Callable[[Bot], Awaitable[None]]) -> str | None:
    """Run `action` with a connected Bot; the error message on failure, else None."""
    try:
        async with new_bot(settings) as bot:
            await action(bot)
    except InvalidToken:
        return "Telegram rejected TELEGRAM_BOT_TOKEN"
    except TelegramError as exc:
        return f"Telegram API call failed: {type(exc).__name__}: {exc}"
    return None


def cmd_set_webhook(args: argparse.Namespace, settings: Settings) -> int:
    missing = [
        name
        for name, value in (
            ("TELEGRAM_BOT_TOKEN", settings.telegram_bot_token),
            ("PUBLIC_URL", settings.public_url),
            ("TELEGRAM_WEBHOOK_SECRET", settings.telegram_webhook_secret),
        )
        if not value
    ]
    if missing:
        return _fail(f"{', '.join(missing)} not set")
    secret = settings.telegram_webhook_secret or ""
    if not SECRET_PATTERN.match(secret):
        return _fail("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
    url = f"{settings.public_url}{WEBHOOK_PATH}"
    if not url.startswith("https://"):
        print(f"warning: {url} is not https; Telegram's own servers only call https webhooks", file=sys.stderr)

    from bot.core import load_kb

    texts = load_kb(settings)[0].texts

    async def action(bot: Bot) -> None:
        await bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=args.drop_pending_updates,
        )
        await register_commands(bot, texts)

    error = asyncio.run(_call_api(settings, action))
    if error:
        return _fail(error)
    print(f"webhook set: {url} (updates: {', '.join(ALLOWED_UPDATES)}); command menu registered")
    return 0


def cmd_delete_webhook(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.telegram_bot_token:
        return _fail("TELEGRAM_BOT_TOKEN not set")

    async def action(bot: Bot) -> None:
        await bot.delete_webhook(drop_pending_updates=args.drop_pending_updates)

    error = asyncio.run(_call_api(settings, action))
    if error:
        return _fail(error)
    print("webhook deleted")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`sahulat telegram set-webhook | delete-webhook`: run once per deploy, not on every worker start."""
    parser = subparsers.add_parser(
        "telegram", help="Telegram webhook administration", description="Telegram webhook administration."
    )
    sub = parser.add_subparsers(dest="telegram_command", metavar="ACTION", required=True)
    drop_help = "discard updates Telegram is still holding for the bot"
    set_ = sub.add_parser(
        "set-webhook",
        help="register PUBLIC_URL/telegram/webhook with Telegram",
        description=f"Register PUBLIC_URL{WEBHOOK_PATH} as the bot's webhook, with TELEGRAM_WEBHOOK_SECRET as its "
        f"secret token and the update kinds the bot handles ({', '.join(ALLOWED_UPDATES)}), and register the "
        "command menu. Run once per deploy (e.g. in the release step). Exits 1 if TELEGRAM_BOT_TOKEN, PUBLIC_URL "
        "or TELEGRAM_WEBHOOK_SECRET is missing or Telegram refuses.",
    )
    set_.add_argument("--drop-pending-updates", action="store_true", help=drop_help)
    set_.set_defaults(func=cmd_set_webhook)
    delete = sub.add_parser(
        "delete-webhook",
        help="remove the bot's webhook (e.g. before polling)",
        description="Remove the bot's webhook, so it can poll (TELEGRAM_MODE=polling). Exits 1 if "
        "TELEGRAM_BOT_TOKEN is missing or Telegram refuses.",
    )
    delete.add_argument("--drop-pending-updates", action="store_true", help=drop_help)
    delete.set_defaults(func=cmd_delete_webhook)
