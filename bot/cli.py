"""The `sahulat` command (also `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bot.settings import Settings, get_settings
from knowledge.loader import KnowledgeError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _fail(message: str) -> int:
    print(f"sahulat: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def ensure_schema(settings: Settings, url: str | None = None) -> None:
    """Bring a local SQLite database up to date on its own; PostgreSQL is migrated at deploy time."""
    url = url or settings.database_url
    if url.startswith("sqlite"):
        from bot.migrate import upgrade

        upgrade(url)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from bot.app import create_app
    from bot.core import load_kb

    problem = settings.secret_key_problem()
    if problem:
        return _fail(problem)
    try:
        knowledge = load_kb(settings)
    except KnowledgeError as exc:
        return _fail(str(exc))
    ensure_schema(settings)
    from bot.channels import channel_report

    for line in channel_report(settings):
        print(line, flush=True)
    print(f"Serving on http://{args.host}:{args.port} (health: /healthz)", flush=True)
    uvicorn.run(
        create_app(settings, knowledge=knowledge),
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        proxy_headers=False,  # the app applies TRUSTED_PROXIES itself (bot/app.py)
    )
    return EXIT_OK


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.channels.console import chat
    from bot.core import build_core

    ensure_schema(settings)

    async def main() -> None:
        core = build_core(settings)
        try:
            await chat(core.dispatcher, sys.stdin, sys.stdout, user=args.user)
        finally:
            await core.close()

    asyncio.run(main())
    return EXIT_OK


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    args.interval = args.interval or settings.outbox_interval_seconds
    from bot.channels import build_channels
    from bot.core import build_core
    from bot.domain.alert_texts import load_alert_texts
    from bot.domain.outbox import run_sender
    from bot.domain.routing import seed_on_start
    from bot.domain.routing_data import load_routing

    routing = load_routing(settings.knowledge_dir)  # checked before anything starts
    load_alert_texts(settings.knowledge_dir)

    async def main() -> None:
        core = build_core(settings)
        await seed_on_start(core.db.url, routing)
        core.channels = build_channels(core)
        for channel in core.channels.values():
            await channel.start(receive=False)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        via = ", ".join(core.channels) or "no channel"
        print(f"worker: sending notifications every {args.interval:g} s via {via}; escalating overdue complaints")
        try:
            await run_sender(core, stop, args.interval)
        finally:
            for channel in core.channels.values():
                await channel.stop()
            await core.close()

    asyncio.run(main())
    return EXIT_OK


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from bot.channels.console import ask, stdin_lines
    from bot.core import build_core

    questions = [" ".join(args.question)] if args.question else stdin_lines()
    with tempfile.TemporaryDirectory(prefix="sahulat-ask-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'ask.db'}"
        ensure_schema(settings, url)

        async def main() -> None:
            core = build_core(settings, database_url=url)
            try:
                await ask(core.dispatcher, questions, sys.stdout, args.json, args.lang)
            finally:
                await core.close()

        asyncio.run(main())
    return EXIT_OK


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from bot.migrate import upgrade

    try:
        upgrade(settings.database_url, args.revision)
    except Exception as exc:  # report, don't dump a traceback on an operator
        return _fail(f"migration failed: {type(exc).__name__}: {exc}")
    print(f"database at {args.revision}")
    if args.revision == "head":
        changed = asyncio.run(_record_knowledge(settings))
        if changed:
            print(f"knowledge base changed since the last upgrade: {changed}")
    return EXIT_OK


async def _record_knowledge(settings: Settings) -> str:
    """The audit trail's record of the knowledge base deployed (a new version only); what changed, or ""."""
    from bot.db import Database
    from bot.domain.audit import CLI, describe, record_knowledge
    from knowledge.versions import fingerprint

    db = Database(settings.database_url)
    try:
        async with db.session() as session, session.begin():
            event = await record_knowledge(session, fingerprint(settings.knowledge_dir), actor=CLI)
            return describe(event) if event is not None else ""
    finally:
        await db.dispose()


def cmd_kb_check(args: argparse.Namespace, settings: Settings) -> int:
    from knowledge.kb_check import confusable_variants
    from knowledge.loader import load_knowledge
    from knowledge.matcher import Matcher

    directory = Path(args.dir) if args.dir else settings.knowledge_dir
    try:
        kb = load_knowledge(directory, settings.sources_dir)
    except KnowledgeError as exc:
        return _fail(str(exc))
    if (directory / "routing.yaml").exists():  # the routing defaults and holidays, checked as `run` checks them
        from bot.domain.routing_data import RoutingDataError, load_routing

        try:
            load_routing(directory)
        except RoutingDataError as exc:
            return _fail(f"invalid routing data: {exc}")
    if (directory / "alerts.yaml").exists():  # the staff alert e-mails' texts
        from bot.domain.alert_texts import AlertTextError, load_alert_texts

        try:
            load_alert_texts(directory)
        except AlertTextError as exc:
            return _fail(f"invalid alert texts: {exc}")
    if (directory / "canned_replies.yaml").exists():  # the default canned replies' placeholders
        from bot.domain.canned import CannedReplyError, defaults

        try:
            defaults(directory)
        except CannedReplyError as exc:
            return _fail(f"invalid canned replies: {exc}")
    matcher = Matcher(kb)
    problems = [f"lexicon.yaml: {c}" for c in matcher.conflicts]
    warnings = confusable_variants(matcher)
    print(f"{len(kb.entries)} entries, {len(kb.sources)} sources, {len(kb.places)} places, {len(kb.parks)} parks")
    for warning in warnings:
        print(f"warning: {warning}")
    if problems:
        return _fail("invalid knowledge base:\n" + "\n".join(f"  - {p}" for p in problems))
    print("knowledge base OK" + (f" ({len(warnings)} warnings)" if warnings else ""))
    return EXIT_ERROR if (warnings and args.strict) else EXIT_OK


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    import yaml

    from knowledge.blind import is_blind_file
    from knowledge.yaml_file import load_yaml

    try:
        raw = load_yaml(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        return _fail(f"{args.file}: {exc}")
    if is_blind_file(raw):
        return _eval_blind(args, settings)
    from bot.core import load_kb
    from knowledge.evaluate import evaluate, load_questions

    try:
        questions = load_questions(Path(args.file))
        _, matcher = load_kb(settings)
    except (ValueError, KnowledgeError) as exc:
        return _fail(str(exc))
    report = evaluate(matcher, questions)
    print("\n".join(report.lines()))
    if args.min_accuracy is not None and report.accuracy < args.min_accuracy:
        return _fail(f"accuracy {report.accuracy:.3f} is below {args.min_accuracy}")
    return EXIT_OK


def _eval_blind(args: argparse.Namespace, settings: Settings) -> int:
    """A blind set, through the whole core on a throwaway database."""
    from bot.core import build_core, load_kb
    from bot.evaluation import run_blind
    from knowledge.blind import load_blind

    try:
        items = load_blind(Path(args.file))
        knowledge = load_kb(settings)
    except (ValueError, KnowledgeError) as exc:
        return _fail(str(exc))
    with tempfile.TemporaryDirectory(prefix="sahulat-eval-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'eval.db'}"
        ensure_schema(settings, url)

        async def main():  # type: ignore[no-untyped-def]
            core = build_core(settings, database_url=url, knowledge=knowledge)
            try:
                return await run_blind(core.dispatcher, items, Path(args.file).name)
            finally:
                await core.close()

        report = asyncio.run(main())
    print("\n".join(report.summary()))
    if not args.quiet:
        print("\n".join(report.miss_lines()))
    if args.min_accuracy is not None and report.accuracy < args.min_accuracy:
        return _fail(f"accuracy {report.accuracy:.3f} is below {args.min_accuracy}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sahulat",
        description="Sahulat: a Telegram and WhatsApp assistant for Pakistan's IT-sector public services.",
        epilog="Configuration comes from environment variables (see the README), e.g. DATABASE_URL.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="serve the web app (webhooks, /healthz)", description="Serve the ASGI app.")
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    run.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT", "8000")), help="port (default: $PORT or 8000)"
    )
    run.set_defaults(func=cmd_run)

    chat = sub.add_parser(
        "chat",
        help="chat with the bot in this terminal",
        description="An interactive chat through the same core as Telegram and WhatsApp. Options are numbered; "
        'answer with the number or the label. "quit" leaves.',
    )
    chat.add_argument("--user", help="conversation identity (default: your login name)")
    chat.set_defaults(func=cmd_chat)

    worker = sub.add_parser(
        "worker",
        help="send notifications and staff alerts, fetch files, escalate (the Procfile's worker)",
        description="Deliver the notification outbox through the configured channels (staff alert e-mails too, with "
        "SMTP_HOST), with retries; fetch the files citizens send in conversations (MEDIA_STORE); make staff alerts, "
        "escalate overdue complaints, send each body's daily digest and close resolved complaints left unanswered "
        "(VERDICT_DAYS); until stopped. "
        "Safe to run in several processes; set OUTBOX_IN_WEB=false so the web processes leave it to the workers.",
    )
    worker.add_argument("--interval", type=float, default=None, help="seconds between rounds (OUTBOX_INTERVAL_SECONDS)")
    worker.set_defaults(func=cmd_worker)

    ask = sub.add_parser(
        "ask",
        help="answer questions for scripts (stateless)",
        description="Answer QUESTION, or one question per line from standard input. Each question is a fresh "
        "conversation on a throwaway database, so nothing is remembered between questions.",
    )
    ask.add_argument("question", nargs="*", metavar="QUESTION", help="the question (default: read stdin)")
    ask.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: question, reply, intent, entry_id, score, language",
    )
    ask.add_argument(
        "--lang",
        choices=["en", "ur", "roman"],
        help="reply language (default: the language each question is written in)",
    )
    ask.set_defaults(func=cmd_ask)

    db = sub.add_parser("db", help="database administration", description="Database administration.")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_sub.add_parser("upgrade", help="apply migrations", description="Apply Alembic migrations to DATABASE_URL.")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.set_defaults(func=cmd_db_upgrade)

    kb = sub.add_parser("kb", help="knowledge base tools", description="Knowledge base tools.")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    check = kb_sub.add_parser(
        "check",
        help="validate the knowledge base",
        description="Validate the YAML files (schema, Urdu present, known sources and places, unique ids) and "
        "list question variants the matcher cannot tell apart. Exits 1 on errors.",
    )
    check.add_argument("--dir", help="knowledge directory (default: KNOWLEDGE_DIR)")
    check.add_argument("--strict", action="store_true", help="also exit 1 on warnings")
    check.set_defaults(func=cmd_kb_check)

    ev = sub.add_parser(
        "eval",
        help="measure matching accuracy on labelled questions",
        description="Print accuracy per intent and per language on FILE and list every miss. FILE is a blind set "
        "(benchmarks/blind_*.yaml: judged through the whole core on a throwaway database, per intent, language and "
        "style) or an older labelled file naming entries (benchmarks/questions.yaml: the matcher alone).",
    )
    ev.add_argument("file", metavar="FILE")
    ev.add_argument("--min-accuracy", type=float, help="exit 1 when accuracy is below this (0 to 1)")
    ev.add_argument("--quiet", action="store_true", help="blind sets: print the figures without the misses")
    ev.set_defaults(func=cmd_eval)

    from bot.channels import channel_modules
    from bot.features import feature_modules

    for module in [*channel_modules(), *feature_modules()]:
        if hasattr(module, "add_cli"):
            module.add_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        settings = get_settings()
    except Exception as exc:  # pydantic's ValidationError for a bad environment variable
        return _fail(f"bad configuration: {exc}")
    from bot.logs import configure

    configure(settings.log_level, settings.log_format)
    try:
        return int(args.func(args, settings))
    except KnowledgeError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`sahulat eval ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
