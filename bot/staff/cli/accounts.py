"""`sahulat staff add|list|disable|unlock|bootstrap`: staff accounts from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.domain.audit import CLI, record
from bot.settings import Settings
from bot.staff.cli.common import EXIT_OK, CliError, fail, read_password, run, service_codes


def cmd_staff_add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.staff import accounts
    from bot.storage import routing as stored_routing

    try:
        username = accounts.check_username(args.username)
        categories = [c for c in (args.categories or "").split(",") if c.strip()]
        if categories:
            categories = accounts.check_categories(categories, service_codes(settings))
        password = read_password(sys.stdin)
        accounts.check_password(password)
    except (accounts.AccountError, CliError) as exc:
        return fail(str(exc))

    async def work(database: Any) -> int:
        async with database.session() as session:
            try:
                if args.body and await stored_routing.body(session, args.body) is None:
                    raise accounts.AccountError(f"unknown body {args.body!r} (see the dashboard's Routing page)")
                user = await accounts.create_staff(
                    session, username, password, args.role, categories, body_id=args.body, email=args.email
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
        limited += f", alerts to {user.email}" if user.email else ""
        print(f"added {user.username} ({user.role}{limited})")
        return EXIT_OK

    return run(settings, work)


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
                    "email": u.email,
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

    return run(settings, work)


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

    return run(settings, work)


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

    return run(settings, work)


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

    return run(settings, work)
