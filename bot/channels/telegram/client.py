"""The Bot API client: PTB's Application and Bot pointed at our API server, with bounded timeouts, on aiohttp."""

from __future__ import annotations

from telegram import Bot, BotCommand
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder

from bot.channels.telegram.aiohttp_request import AiohttpRequest
from bot.channels.telegram.config import COMMANDS
from bot.settings import Settings
from knowledge.texts import Texts


def file_base_url(api_base_url: str) -> str:
    """The file-download base for an API base: ".../bot" -> ".../file/bot" (PTB appends the token to both)."""
    root, _, last = api_base_url.rstrip("/").rpartition("/")
    return f"{root}/file/{last}"


def api_request(*, pool_size: int = 256) -> AiohttpRequest:
    """The Bot API client: bounded timeouts, on aiohttp (see bot.channels.telegram.aiohttp_request for why)."""
    return AiohttpRequest(connection_pool_size=pool_size, connect_timeout=10, read_timeout=15, pool_timeout=10)


def build_application(settings: Settings, *, polling: bool) -> Application:  # type: ignore[type-arg]
    """The PTB Application: our Bot API server, outbound rate limits, bounded timeouts; an Updater only to poll."""
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token or "")
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_base_url(settings.telegram_api_base_url))
        .rate_limiter(AIORateLimiter(max_retries=3))
        .request(api_request())
        .get_updates_request(api_request(pool_size=1))
    )
    if not polling:
        builder = builder.updater(None)
    return builder.build()


def new_bot(settings: Settings) -> Bot:
    """A bare Bot for one-off calls (the CLI), with a single connection."""
    return Bot(
        settings.telegram_bot_token or "",
        base_url=settings.telegram_api_base_url,
        base_file_url=file_base_url(settings.telegram_api_base_url),
        request=api_request(pool_size=1),
    )


async def register_commands(bot: Bot, texts: Texts) -> None:
    """The command list the client shows in its menu, in English and (for Urdu clients) Urdu.

    Telegram picks the list by the client's language code, and there is none for Roman Urdu, so it has no list of
    its own: Roman Urdu users, whose clients are set to English or Urdu, see that language's list."""
    await bot.set_my_commands([BotCommand(name, texts(f"command_{name}", "en")) for name in COMMANDS])
    await bot.set_my_commands(
        [BotCommand(name, texts(f"command_{name}", "ur")) for name in COMMANDS], language_code="ur"
    )
