"""The console channel: `sahulat chat` (interactive) and `sahulat ask` (one question per line, for scripts)."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
import uuid
from collections.abc import Iterable
from typing import TextIO

from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming, Outcome

CHANNEL = "console"
QUIT_WORDS = frozenset({"quit", "exit", "/quit", "/exit", ":q"})


def render(outcome: Outcome) -> str:
    """Replies as plain text, each option numbered so the user can answer with its number or label."""
    blocks = []
    for reply in outcome.replies:
        lines = [reply.text]
        lines += [f"  {i}. {option.label}" for i, option in enumerate(reply.options, start=1)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


async def chat(dispatcher: Dispatcher, stdin: TextIO, stdout: TextIO, user: str | None = None) -> None:
    """Read lines, answer each through the core; the conversation is stored like any other channel's."""
    interactive = stdin.isatty()
    if interactive:
        try:
            import readline  # noqa: F401  (gives input() history and line editing)
        except ImportError:  # pragma: no cover - not on every platform
            pass
    user_id = user or getpass.getuser()
    stdout.write('Sahulat console chat. Type a question, "menu" for topics, "quit" to leave.\n\n')
    while True:
        try:
            line = await asyncio.to_thread(input, "you> ") if interactive else stdin.readline()
        except (EOFError, KeyboardInterrupt):
            break
        if not interactive and line == "":
            break
        text = line.rstrip("\n")
        if text.strip().casefold() in QUIT_WORDS:
            break
        outcome = await dispatcher.handle(Incoming(channel=CHANNEL, user_id=user_id, text=text))
        stdout.write(f"sahulat> {render(outcome)}\n\n")
        stdout.flush()


def decode_lines(raw: Iterable[bytes]) -> Iterable[str]:
    """Input lines as text whatever the bytes: invalid UTF-8 is replaced, not fatal."""
    for line in raw:
        yield line.decode("utf-8", errors="replace").rstrip("\r\n")


async def ask(dispatcher: Dispatcher, questions: Iterable[str], stdout: TextIO, as_json: bool, lang: str | None) -> int:
    """Answer each question as a fresh conversation; returns how many were answered."""
    count = 0
    for question in questions:
        msg = Incoming(channel="cli", user_id=f"ask-{uuid.uuid4().hex}", text=question, reply_language=lang)
        outcome = await dispatcher.handle(msg)
        reply = render(outcome)
        if as_json:
            record = {
                "question": question,
                "reply": reply,
                "intent": outcome.intent,
                "entry_id": outcome.entry_id,
                "score": outcome.score,
                "language": outcome.detected_language or outcome.language,
                "reply_language": outcome.language,
                "options": [{"label": o.label, "payload": o.payload} for o in outcome.options],
            }
            stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            stdout.write(reply + "\n\n")
        stdout.flush()
        count += 1
    return count


def stdin_lines() -> Iterable[str]:
    return decode_lines(sys.stdin.buffer)
