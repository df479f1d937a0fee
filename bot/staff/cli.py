"""`sahulat staff ...` (accounts) and `sahulat complaints ...` (the dashboard's list, detail and export in a terminal).

Errors are one line on stderr with exit code 1 (2 for a bad command line, from argparse); never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TextIO

from bot.domain.audit import CLI, record
from bot.settings import Settings

EXIT_OK, EXIT_ERROR = 0, 1


class CliError(Exception):
    """A problem to report in one line (unknown account, bad date, unreachable database)."""


def _fail(message: str) -> int:
    print(f"sahulat: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _run(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    """Run `work(database)` on DATABASE_URL (a local SQLite file is brought up to date first)."""
    from bot.cli import ensure_schema
    from bot.db import Database

    async def main() -> int:
        database = Database(settings.database_url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    try:
        ensure_schema(settings)
        return asyncio.run(main())
    except CliError as exc:
        return _fail(str(exc))
    except (OSError, ConnectionError) as exc:
        return _fail(f"cannot reach the database: {exc}")
    except Exception as exc:  # SQLAlchemy/driver errors: one line for the operator, not a traceback
        return _fail(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


def _service_codes(settings: Settings) -> list[str]:
    from knowledge.loader import load_knowledge

    return list(load_knowledge(settings.knowledge_dir, settings.sources_dir).services)


def _read_password(stdin: TextIO) -> str:
    """Prompted twice on a terminal; otherwise the first line of standard input (for scripts)."""
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise CliError("the passwords differ")
        return first
    line = stdin.readline()
    return line.rstrip("\r\n")


# -- staff ---------------------------------------------------------------------------------------------


def cmd_staff_add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff import accounts
    from bot.storage import routing as stored_routing

    try:
        username = accounts.check_username(args.username)
        categories = [c for c in (args.categories or "").split(",") if c.strip()]
        if categories:
            categories = accounts.check_categories(categories, _service_codes(settings))
        password = _read_password(sys.stdin)
        accounts.check_password(password)
    except (accounts.AccountError, CliError) as exc:
        return _fail(str(exc))

    async def work(database: Any) -> int:
        async with database.session() as session:
            try:
                if args.body and await stored_routing.body(session, args.body) is None:
                    raise accounts.AccountError(f"unknown body {args.body!r} (see the dashboard's Routing page)")
                user = await accounts.create_staff(
                    session, username, password, args.role, categories, body_id=args.body
                )
            except accounts.AccountError as exc:
                raise CliError(str(exc)) from None
            record(
                session,
                "account_added",
                actor=CLI,
                target=user.username,
                role=user.role,
                categories=categories,
                body=user.body_id,
            )
            await session.commit()
        limited = f", categories: {', '.join(user.categories)}" if user.categories else ""
        limited += f", body: {user.body_id}" if user.body_id else ""
        print(f"added {user.username} ({user.role}{limited})")
        return EXIT_OK

    return _run(settings, work)


def cmd_staff_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff import accounts
    from bot.staff.queries import local_time

    async def work(database: Any) -> int:
        async with database.session() as session:
            users = await accounts.list_staff(session)
        if args.json:
            for u in users:
                record = {
                    "username": u.username,
                    "role": u.role,
                    "active": u.active,
                    "categories": u.categories,
                    "created_at": u.created_at.isoformat(),
                    "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
                }
                print(json.dumps(record))
            return EXIT_OK
        if not users:
            print("no staff accounts (`sahulat staff add USERNAME --role admin` adds one)")
            return EXIT_OK
        print(f"{'USERNAME':<24} {'ROLE':<7} {'ACTIVE':<6} {'LAST SIGN-IN (PKT)':<18} CATEGORIES")
        for u in users:
            print(
                f"{u.username:<24} {u.role:<7} {'yes' if u.active else 'no':<6} "
                f"{local_time(u.last_login_at) or '-':<18} {', '.join(u.categories) or 'all'}"
            )
        return EXIT_OK

    return _run(settings, work)


def cmd_staff_disable(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff import accounts

    async def work(database: Any) -> int:
        async with database.session() as session:
            user = await accounts.get_staff(session, args.username)
            if user is None:
                raise CliError(f"no staff account named {args.username!r}")
            if not user.active:
                print(f"{user.username} was already disabled")
                return EXIT_OK
            try:
                await accounts.set_active(session, user, False)
            except accounts.AccountError as exc:
                raise CliError(str(exc)) from None
            record(session, "account_changed", actor=CLI, target=user.username, change="disable", active=False)
            await session.commit()
        print(f"disabled {user.username}; its sessions are signed out")
        return EXIT_OK

    return _run(settings, work)


def cmd_staff_unlock(args: argparse.Namespace, settings: Settings) -> int:
    """An admin lets a throttled account sign in again at once, from every address."""
    from bot.staff import accounts, throttle

    async def work(database: Any) -> int:
        async with database.session() as session:
            user = await accounts.get_staff(session, args.username)
            if user is None:
                raise CliError(f"no staff account named {args.username!r}")
            cleared = await throttle.unlock(session, user.username)
            record(session, "account_unlocked", actor=CLI, target=user.username, counters=cleared)
            await session.commit()
        print(f"unlocked {user.username}" + ("" if cleared else " (it was not throttled)"))
        return EXIT_OK

    return _run(settings, work)


def cmd_staff_bootstrap(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff import accounts

    async def work(database: Any) -> int:
        async with database.session() as session:
            password = await accounts.bootstrap_admin(session)
        if password is not None:
            print(
                f"Created the staff account {accounts.BOOTSTRAP_USERNAME!r} (admin) with the one-time password:\n"
                f"    {password}\n"
                "Sign in at /staff, then add personal accounts and disable this one; it is not shown again.",
                flush=True,
            )
        return EXIT_OK

    return _run(settings, work)


# -- complaints ----------------------------------------------------------------------------------------


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
        return _fail(str(exc))

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

    return _run(settings, work)


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

    return _run(settings, work)


def cmd_complaints_export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff import queries

    try:
        filters = _filters(args)
    except CliError as exc:
        return _fail(str(exc))

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

    return _run(settings, work)


def _write(path: str, lines: Iterable[str]) -> None:
    """UTF-8 with a byte-order mark, so spreadsheet programs read Urdu text correctly."""
    try:
        with open(path, "w", encoding="utf-8-sig", newline="") as handle:
            handle.writelines(lines)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None


# -- dead letters ------------------------------------------------------------------------------------


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

    return _run(settings, work)


def _with_core(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    """Like `_run`, with the whole core (knowledge base, dispatcher): a retry handles a message again."""

    async def core_work(database: Any) -> int:
        from bot.core import core_on, load_kb

        return await work(core_on(settings, database, *load_kb(settings)))

    return _run(settings, core_work)


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

    return _with_core(settings, work)


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

    return _run(settings, work)


# -- parsers -------------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError("must be between 1 and 100000")
    return value


def _add_filters(parser: argparse.ArgumentParser) -> None:
    from bot.domain.complaints import STATUSES
    from bot.staff.queries import SORTS

    parser.add_argument("--status", choices=STATUSES, help="only this status")
    parser.add_argument("--category", metavar="CODE", help="only this category (a service code, e.g. e_service)")
    parser.add_argument("--district", metavar="ID", help="only this district (a place id, e.g. peshawar, or other)")
    parser.add_argument("--channel", metavar="NAME", help="only this channel (telegram, whatsapp, console, ...)")
    parser.add_argument("--since", metavar="YYYY-MM-DD", help="filed on or after this day (Pakistan time)")
    parser.add_argument("--until", metavar="YYYY-MM-DD", help="filed on or before this day (Pakistan time)")
    parser.add_argument("--search", metavar="TEXT", help="text in the description or reference (any case)")
    parser.add_argument("--sort", choices=list(SORTS), default="newest", help="order (default: newest)")
    parser.add_argument("--body", metavar="ID", help="only this body's complaints (e.g. pseb), or 'unrouted'")
    parser.add_argument("--overdue", action="store_true", help="only open complaints past their due time")


def add_cli(subparsers: argparse._SubParsersAction[Any]) -> None:
    from bot.staff.accounts import ROLES

    staff = subparsers.add_parser(
        "staff", help="staff dashboard accounts", description="Accounts for the staff dashboard at /staff."
    )
    staff_sub = staff.add_subparsers(dest="staff_command", metavar="ACTION", required=True)

    add = staff_sub.add_parser(
        "add",
        help="add an account",
        description="Add a staff account. The password is prompted for (twice) on a terminal, or read from the "
        "first line of standard input, e.g. `printf '%%s\\n' \"$PW\" | sahulat staff add ali --role agent`. "
        "Passwords need at least 10 characters and are stored as argon2 hashes.",
    )
    add.add_argument("username", metavar="USERNAME", help="lower-case letters, digits, '.', '_' or '-'")
    add.add_argument(
        "--role",
        choices=ROLES,
        required=True,
        help="viewer reads; agent also changes status, writes notes, assigns, exports without personal data; "
        "supervisor also receives the escalations of overdue complaints of its --body; "
        "admin also manages accounts and routing and exports with personal data",
    )
    add.add_argument("--body", metavar="BODY", help="the body (office) the account works for, e.g. pseb")
    add.add_argument(
        "--categories",
        metavar="CODE,CODE",
        help="limit a viewer or agent to these complaint categories (service codes); default: all",
    )
    add.set_defaults(func=cmd_staff_add)

    listing = staff_sub.add_parser("list", help="list accounts", description="List the staff accounts.")
    listing.add_argument("--json", action="store_true", help="one JSON object per account")
    listing.set_defaults(func=cmd_staff_list)

    disable = staff_sub.add_parser(
        "disable",
        help="disable an account",
        description="Disable an account and sign out all its sessions at once. The last active admin cannot be "
        "disabled.",
    )
    disable.add_argument("username", metavar="USERNAME")
    disable.set_defaults(func=cmd_staff_disable)

    unlock = staff_sub.add_parser(
        "unlock",
        help="let a throttled account sign in again",
        description="Clear an account's failed sign-ins, so it may sign in again at once from any address.",
    )
    unlock.add_argument("username", metavar="USERNAME")
    unlock.set_defaults(func=cmd_staff_unlock)

    bootstrap = staff_sub.add_parser(
        "bootstrap",
        help="create the first admin if there is no account",
        description="When no staff account exists, create the admin account 'admin' with a random one-time "
        "password and print it once. Otherwise print nothing. Exits 0 either way (`make run` calls it).",
    )
    bootstrap.set_defaults(func=cmd_staff_bootstrap)

    complaints = subparsers.add_parser(
        "complaints",
        help="list, show and export complaints",
        description="The staff dashboard's complaint views in the terminal (times in Pakistan time, PKT).",
    )
    c_sub = complaints.add_subparsers(dest="complaints_command", metavar="ACTION", required=True)

    c_list = c_sub.add_parser("list", help="list complaints", description="List complaints, newest first.")
    _add_filters(c_list)
    c_list.add_argument("--limit", type=_positive, default=50, help="how many to show (default: 50)")
    c_list.add_argument("--json", action="store_true", help="one JSON object per complaint")
    c_list.set_defaults(func=cmd_complaints_list)

    show = c_sub.add_parser(
        "show", help="show one complaint", description="Everything filed with a complaint, and its whole history."
    )
    show.add_argument("reference", metavar="REFERENCE", help="e.g. CMP-2026-000123")
    show.set_defaults(func=cmd_complaints_show)

    export = c_sub.add_parser(
        "export",
        help="export complaints as CSV",
        description="Write the filtered complaints as CSV (UTF-8). Personal data (name, channel user id, "
        "location) is left out unless --personal is given.",
    )
    _add_filters(export)
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE (default: standard output)")
    export.add_argument("--personal", action="store_true", help="include personal data (name, user id, location)")
    export.set_defaults(func=cmd_complaints_export)

    dead = subparsers.add_parser(
        "deadletters",
        help="list, retry and dismiss messages that failed",
        description="Messages whose handling failed for a reason other than a database outage (a bug, a "
        "constraint, bad data), kept with their error; the user was sent an apology.",
    )
    d_sub = dead.add_subparsers(dest="deadletters_command", metavar="ACTION", required=True)
    d_list = d_sub.add_parser("list", help="list dead letters", description="List dead letters, newest first.")
    d_list.add_argument("--all", action="store_true", help="retried and dismissed ones too (default: open only)")
    d_list.add_argument("--limit", type=_positive, default=200, help="how many to show (default: 200)")
    d_list.add_argument("--json", action="store_true", help="one JSON object per dead letter")
    d_list.set_defaults(func=cmd_deadletters_list)
    d_retry = d_sub.add_parser(
        "retry",
        help="handle a dead letter's message again",
        description="Run the message through the bot again; its replies wait in the outbox for the sender "
        "(`sahulat worker`). A retry that fails again records the new error and leaves the dead letter open "
        "(exit status 1).",
    )
    d_retry.add_argument("id", type=int, metavar="ID")
    d_retry.set_defaults(func=cmd_deadletters_retry)
    d_dismiss = d_sub.add_parser(
        "dismiss", help="close a dead letter without retrying it", description="Mark a dead letter dismissed."
    )
    d_dismiss.add_argument("id", type=int, metavar="ID")
    d_dismiss.set_defaults(func=cmd_deadletters_dismiss)
