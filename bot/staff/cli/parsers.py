"""The command lines of `sahulat staff`, `sahulat complaints` and `sahulat deadletters`."""

from __future__ import annotations

import argparse
from typing import Any

from bot.staff.cli import accounts as account_commands
from bot.staff.cli import complaints as complaint_commands
from bot.staff.cli import deadletters as dead_letter_commands


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
    add.add_argument("--email", metavar="ADDRESS", help="where the account's staff alerts are e-mailed (SMTP_HOST)")
    add.add_argument(
        "--categories",
        metavar="CODE,CODE",
        help="limit a viewer or agent to these complaint categories (service codes); default: all",
    )
    add.set_defaults(func=account_commands.cmd_staff_add)

    listing = staff_sub.add_parser("list", help="list accounts", description="List the staff accounts.")
    listing.add_argument("--json", action="store_true", help="one JSON object per account")
    listing.set_defaults(func=account_commands.cmd_staff_list)

    disable = staff_sub.add_parser(
        "disable",
        help="disable an account",
        description="Disable an account and sign out all its sessions at once. The last active admin cannot be "
        "disabled.",
    )
    disable.add_argument("username", metavar="USERNAME")
    disable.set_defaults(func=account_commands.cmd_staff_disable)

    unlock = staff_sub.add_parser(
        "unlock",
        help="let a throttled account sign in again",
        description="Clear an account's failed sign-ins, so it may sign in again at once from any address.",
    )
    unlock.add_argument("username", metavar="USERNAME")
    unlock.set_defaults(func=account_commands.cmd_staff_unlock)

    bootstrap = staff_sub.add_parser(
        "bootstrap",
        help="create the first admin if there is no account",
        description="When no staff account exists, create the admin account 'admin' with a random one-time "
        "password and print it once. Otherwise print nothing. Exits 0 either way (`make run` calls it).",
    )
    bootstrap.set_defaults(func=account_commands.cmd_staff_bootstrap)

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
    c_list.set_defaults(func=complaint_commands.cmd_complaints_list)

    show = c_sub.add_parser(
        "show", help="show one complaint", description="Everything filed with a complaint, and its whole history."
    )
    show.add_argument("reference", metavar="REFERENCE", help="e.g. CMP-2026-000123")
    show.set_defaults(func=complaint_commands.cmd_complaints_show)

    export = c_sub.add_parser(
        "export",
        help="export complaints as CSV",
        description="Write the filtered complaints as CSV (UTF-8). Personal data (name, channel user id, "
        "location) is left out unless --personal is given.",
    )
    _add_filters(export)
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE (default: standard output)")
    export.add_argument("--personal", action="store_true", help="include personal data (name, user id, location)")
    export.set_defaults(func=complaint_commands.cmd_complaints_export)

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
    d_list.set_defaults(func=dead_letter_commands.cmd_deadletters_list)
    d_retry = d_sub.add_parser(
        "retry",
        help="handle a dead letter's message again",
        description="Run the message through the bot again; its replies wait in the outbox for the sender "
        "(`sahulat worker`). A retry that fails again records the new error and leaves the dead letter open "
        "(exit status 1).",
    )
    d_retry.add_argument("id", type=int, metavar="ID")
    d_retry.set_defaults(func=dead_letter_commands.cmd_deadletters_retry)
    d_dismiss = d_sub.add_parser(
        "dismiss", help="close a dead letter without retrying it", description="Mark a dead letter dismissed."
    )
    d_dismiss.add_argument("id", type=int, metavar="ID")
    d_dismiss.set_defaults(func=dead_letter_commands.cmd_deadletters_dismiss)
