"""The chat channels, and e-mail (staff alerts, sent only). Each is a module or package here offering:

    status_line(settings) -> str          "Telegram: off, TELEGRAM_BOT_TOKEN not set"
    create(core) -> Channel | None        the channel, or None when it is not configured
    add_cli(subparsers) -> None           optional: its own `sahulat` subcommands

The console channel (console.py) needs no server and is used by `sahulat chat` and `sahulat ask`.
A channel parses, renders and sends, nothing else: what to answer and what to store is the core's
(tests/test_layering.py keeps SQL, bot.models, and the network libraries on their own sides).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.channels.base import Channel
    from bot.core import Core

NETWORK_CHANNELS = ("bot.channels.telegram", "bot.channels.whatsapp", "bot.channels.email")  # email: staff alerts


def network_channel_names() -> frozenset[str]:
    """The channels that can message a user first (the console, scripts and Open311 clients cannot)."""
    return frozenset(name.rsplit(".", 1)[1] for name in NETWORK_CHANNELS)


def channel_modules() -> Iterator[ModuleType]:
    for name in NETWORK_CHANNELS:
        if importlib.util.find_spec(name) is not None:
            yield importlib.import_module(name)


def channel_report(settings: Settings) -> list[str]:
    """One line per channel: on, or off and why."""
    lines = [module.status_line(settings) for module in channel_modules()]
    return [*lines, "Console: on (`sahulat chat` in another terminal)"]


def build_channels(core: Core) -> dict[str, Channel]:
    """The configured network channels, by name."""
    channels = {}
    for module in channel_modules():
        channel = module.create(core)
        if channel is not None:
            channels[channel.name] = channel
    return channels
