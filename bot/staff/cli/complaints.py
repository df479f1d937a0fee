"""`sahulat complaints list|show|export`: the dashboard's list, detail and export in a terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterable
from typing import Any

from bot.settings import Settings
from bot.staff.cli.common import EXIT_OK, CliError, fail, run


def _filters(args: argparse.Namespace) -> Any:
    from bot.staff.queries import Filters

    params = {
        "status": args.status or "",
        "category": args.category or "",
        "district": args.district or "",
        "channel": args.channel or "",
        "since": args.since or "",
        "until": args.until or "",
        "q": args.search or "",
        "sort": args.sort,
        "body": args.body or "",
        "due": "overdue" if args.overdue else "",
    }
    filters = Filters.parse(params)
    if filters.errors:
        raise CliError("; ".join(filters.errors))
    return filters


def cmd_complaints_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.domain.deadlines import local_due
    from bot.staff import queries

    try:
        filters = _filters(args)
    except CliError as exc:
        return fail(str(exc))

    async def work(database: Any) -> int:
        async with database.session() as session:
            page = await queries.list_page(session, filters, None, size=args.limit)
        if args.json:
            for c in page.complaints:
                record = {
                    "reference": c.reference,
                    "created_at": c.created_at.isoformat(),
                    "status": c.status,
                    "category": c.category,
                    "district": c.district,
                    "channel": c.channel,
                    "assigned_to": c.assigned_to,
                    "body": c.body_id,
                    "due_at": c.due_at.isoformat() if c.due_at else None,
                    "escalation_level": c.escalation_level,
                    "description": c.description,
                }
                print(json.dumps(record, ensure_ascii=False))
            return EXIT_OK
        print(
            f"{'REFERENCE':<16} {'FILED (PKT)':<16} {'STATUS':<9} {'BODY':<10} {'DUE':<10} {'CATEGORY':<18} "
            f"{'DISTRICT':<14} DESCRIPTION"
        )
        for c in page.complaints:
            text = " ".join(c.description.split())
            text = text if len(text) <= 50 else text[:49] + "…"
            due = local_due(c.due_at) if c.due_at else "-"
            print(
                f"{c.reference:<16} {queries.local_time(c.created_at):<16} {c.status:<9} {c.body_id or 'unrouted':<10} "
                f"{due:<10} {c.category:<18} {c.district:<14} {text}"
            )
        shown = len(page.complaints)
        print(f"{shown} of {page.total} complaint(s)" + (" (use --limit to see more)" if shown < page.total else ""))
        return EXIT_OK

    return run(settings, work)


def cmd_complaints_show(args: argparse.Namespace, settings: Settings) -> int:
    from bot.domain.complaints import history
    from bot.domain.deadlines import local_due
    from bot.staff import queries

    async def work(database: Any) -> int:
        async with database.session() as session:
            complaint = await queries.find(session, args.reference, None)
            if complaint is None:
                raise CliError(f"no complaint {args.reference!r}")
            events = await history(session, complaint, public_only=False)
        c = complaint
        erased = c.erased_at is not None
        lines = [
            f"{c.reference}  {c.status}" + (f" ({c.status_reason})" if c.status_reason else ""),
            f"filed:       {queries.local_time(c.created_at)} PKT via {c.channel} ({c.language})",
            f"category:    {c.category}",
            f"district:    {c.district}" + (f" ({c.district_text})" if c.district_text else ""),
            f"citizen:     {'erased' if erased else (c.display_name or '-') + f' [{c.user_id}]'}",
            f"may contact: {'yes' if c.contact_consent else 'no'}",
            f"assigned to: {c.assigned_to or '-'}",
            f"body:        {c.body_id or 'unrouted'}",
            f"due:         {local_due(c.due_at) if c.due_at else '-'}"
            + (f" (escalated, level {c.escalation_level})" if c.escalation_level else ""),
        ]
        if c.latitude is not None and c.longitude is not None and not erased:
            lines.append(f"location:    {c.latitude}, {c.longitude}")
        for key, value in c.answers.items():
            lines.append(f"answer:      {key} = {value}")
        for item in c.attachments:
            lines.append(f"attachment:  {item.get('kind', '?')} {item.get('content_type', '')} {item.get('ref', '')}")
        if c.rating is not None:
            lines.append(f"rating:      {c.rating}/5")
        lines += ["", c.description, "", "history:"]
        for e in events:
            change = f" {e.from_status or ''}->{e.to_status}" if e.to_status else ""
            note = f": {e.note}" if e.note else ""
            visibility = "public" if e.public else "internal"
            lines.append(f"  {queries.local_time(e.created_at)} {e.actor} {e.kind}{change} [{visibility}]{note}")
        print("\n".join(lines))
        return EXIT_OK

    return run(settings, work)


def cmd_complaints_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff import queries

    try:
        filters = _filters(args)
    except CliError as exc:
        return fail(str(exc))

    async def work(database: Any) -> int:
        async with database.session() as session:
            rows = await queries.all_filtered(session, filters, None)
        lines = queries.csv_lines(rows, args.personal)
        if args.output and args.output != "-":
            await asyncio.to_thread(_write, args.output, lines)
            print(f"wrote {len(rows)} complaint(s) to {args.output}", file=sys.stderr)
        else:
            sys.stdout.writelines(lines)
        return EXIT_OK

    return run(settings, work)


def _write(path: str, lines: Iterable[str]) -> None:
    """UTF-8 with a byte-order mark, so spreadsheet programs read Urdu text correctly."""
    try:
        with open(path, "w", encoding="utf-8-sig", newline="") as handle:
            handle.writelines(lines)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None
