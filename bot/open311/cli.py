"""`sahulat open311 key add|list|revoke`: the API keys that may file requests."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.domain.audit import CLI, record
from bot.models import ApiKey
from bot.open311.formats import w3c
from bot.open311.keys import add_key


def _run_key_command(args: argparse.Namespace) -> int:
    from bot.db import Database
    from bot.settings import get_settings

    async def main() -> int:
        db = Database(get_settings().database_url)
        try:
            async with db.session() as session, session.begin():
                if args.key_command == "add":
                    try:
                        key = await add_key(session, args.name)
                    except IntegrityError:
                        print(f"sahulat: error: a key named {args.name!r} exists", file=sys.stderr)
                        return 1
                    record(session, "api_key_added", actor=CLI, target=args.name)
                    print(f"API key for {args.name} (shown once; store it now):\n{key}")
                    return 0
                rows = list(await session.exec(select(ApiKey).order_by(col(ApiKey.name))))
                if args.key_command == "list":
                    for row in rows:
                        used = w3c(row.last_used_at) or "never"
                        print(f"{row.name}\t{'active' if row.active else 'revoked'}\tlast used {used}")
                    return 0
                match = [r for r in rows if r.name == args.name]
                if not match:
                    print(f"sahulat: error: no key named {args.name!r}", file=sys.stderr)
                    return 1
                match[0].active = False
                session.add(match[0])
                record(session, "api_key_revoked", actor=CLI, target=args.name)
                print(f"revoked {args.name}")
                return 0
        finally:
            await db.dispose()

    return asyncio.run(main())


def add_cli(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "open311", help="Open311 GeoReport v2 API administration", description="Open311 API administration."
    )
    sub = parser.add_subparsers(dest="open311_command", metavar="ACTION", required=True)
    key = sub.add_parser("key", help="manage API keys", description="Manage the API keys that may file requests.")
    keys = key.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    add = keys.add_parser("add", help="create a key (printed once)", description="Create an API key named NAME.")
    add.add_argument("name", metavar="NAME", help="who the key is for, e.g. city-portal")
    keys.add_parser("list", help="list keys", description="List API keys (names and status, never the keys).")
    revoke = keys.add_parser("revoke", help="revoke a key", description="Revoke the API key named NAME.")
    revoke.add_argument("name", metavar="NAME")
    for action in (add, revoke, keys.choices["list"]):
        action.set_defaults(func=lambda args, settings: _run_key_command(args))
