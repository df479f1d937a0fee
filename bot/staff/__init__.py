"""The staff dashboard (issue 8): complaints, overview charts, the unanswered-questions queue, dead letters, accounts.

A feature in the sense of bot/features.py:

    routes(settings)     one Mount("/staff") of a Starlette sub-app (bot/staff/web.py explains how it reaches the
                         shared Core: a small ASGI wrapper copies it from the outer app before the sub-app runs)
    add_cli(subparsers)  `sahulat staff add|list|disable|bootstrap`, `sahulat complaints list|show|export` and
                         `sahulat deadletters list|retry|dismiss`

Kept light on import: `sahulat --help` imports every feature, so the web app and templates load only when used.
"""

from __future__ import annotations

import argparse
from typing import Any

from starlette.routing import BaseRoute, Mount

from bot.settings import Settings


def routes(settings: Settings) -> list[BaseRoute]:
    from bot.staff.web import MAX_BODY_BYTES, StaffWeb

    return [Mount("/staff", app=StaffWeb(settings).app(), name="staff", max_body_size=MAX_BODY_BYTES)]


def add_cli(subparsers: argparse._SubParsersAction[Any]) -> None:
    from bot.staff.cli import add_cli as add

    add(subparsers)
