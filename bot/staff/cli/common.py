"""What the staff commands share: one-line errors (exit code 1, never a traceback), running work on the database
or on a whole core, reading a password."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from bot.settings import Settings

EXIT_OK, EXIT_ERROR = 0, 1


class CliError(Exception):
    """A problem to report in one line (unknown account, bad date, unreachable database)."""


def fail(message: str) -> int:
    print(f"sahulat: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def run(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
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
        return fail(str(exc))
    except (OSError, ConnectionError) as exc:
        return fail(f"cannot reach the database: {exc}")
    except Exception as exc:  # SQLAlchemy/driver errors: one line for the operator, not a traceback
        return fail(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


def service_codes(settings: Settings) -> list[str]:
    from knowledge.loader import load_knowledge

    return list(load_knowledge(settings.knowledge_dir, settings.sources_dir).services)


def read_password(stdin: TextIO) -> str:
    """Prompted twice on a terminal; otherwise the first line of standard input (for scripts)."""
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise CliError("the passwords differ")
        return first
    line = stdin.readline()
    return line.rstrip("\r\n")


def with_core(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    """Like `_run`, with the whole core (knowledge base, dispatcher): a retry handles a message again."""

    async def core_work(database: Any) -> int:
        from bot.core import core_on, load_kb

        return await work(core_on(settings, database, *load_kb(settings)))

    return run(settings, core_work)
