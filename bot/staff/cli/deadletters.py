"""`sahulat deadletters list|retry|dismiss`: messages whose handling failed, from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.settings import Settings
from bot.staff.cli.common import EXIT_ERROR, EXIT_OK, CliError, run, with_core


def _dead_letter_record(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "created_at": d.created_at.isoformat(),
        "channel": d.channel,
        "message_id": d.message_id,
        "user_id": d.user_id,
        "status": d.status,
        "attempts": d.attempts,
        "error_type": d.error_type,
        "error_message": d.error_message,
        "text": d.message.get("text", ""),
        "retried_at": d.retried_at.isoformat() if d.retried_at else None,
        "updated_by": d.updated_by,
    }


def cmd_deadletters_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff import queries
    from bot.storage import deadletters

    async def work(database: Any) -> int:
        async with database.session() as session:
            rows = await deadletters.listing(session, include_closed=args.all, limit=args.limit)
        if args.json:
            for d in rows:
                print(json.dumps(_dead_letter_record(d), ensure_ascii=False))
            return EXIT_OK
        print(f"{'ID':>6} {'FAILED (PKT)':<16} {'CHANNEL':<9} {'STATUS':<9} {'TRIES':>5} ERROR")
        for d in rows:
            error = " ".join(f"{d.error_type.rpartition('.')[2]}: {d.error_message}".split())
            error = error if len(error) <= 70 else error[:69] + "…"
            when = queries.local_time(d.created_at)
            print(f"{d.id:>6} {when:<16} {d.channel:<9} {d.status:<9} {d.attempts:>5} {error}")
        suffix = "" if args.all else " open (--all shows retried and dismissed ones too)"
        print(f"{len(rows)} dead letter(s){suffix}")
        return EXIT_OK

    return run(settings, work)


def cmd_deadletters_retry(args: argparse.Namespace, settings: Settings) -> int:
    from handlers import deadletters

    async def work(core: Any) -> int:
        try:
            result = await deadletters.retry(core.dispatcher, args.id, "cli")
        except deadletters.DeadLetterError as exc:
            raise CliError(str(exc)) from None
        if not result.ok:
            print(f"dead letter {args.id}: the retry failed again ({result.error}); it stays open", file=sys.stderr)
            return EXIT_ERROR
        replies = len(result.outcome.replies) if result.outcome else 0
        print(f"dead letter {args.id} retried: {replies} repl{'y' if replies == 1 else 'ies'} queued for the sender")
        return EXIT_OK

    return with_core(settings, work)


def cmd_deadletters_dismiss(args: argparse.Namespace, settings: Settings) -> int:
    from handlers import deadletters

    async def work(database: Any) -> int:
        async with database.session() as session:
            try:
                await deadletters.dismiss(session, args.id, "cli")
            except deadletters.DeadLetterError as exc:
                raise CliError(str(exc)) from None
            await session.commit()
        print(f"dead letter {args.id} dismissed")
        return EXIT_OK

    return run(settings, work)
