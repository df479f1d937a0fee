"""The architecture's rules, checked on the source with `ast`: dependencies run one way (channels -> handlers ->
domain -> storage), a channel only parses, renders and sends, and no Telegram or Twilio type leaves bot/channels/.

Every import counts, including those inside functions and under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_PACKAGES = ("bot", "handlers", "knowledge")  # the product; tests and benchmarks play the network's part

CHANNELS = "bot.channels"
SQL = ("sqlalchemy", "sqlmodel")
# Handlers may name the type of the session they are handed (the message's transaction), nothing else of SQL.
SESSION_TYPE = "sqlmodel.ext.asyncio.session"
# The neutral message types (Incoming, Reply, Option, Outcome) are the vocabulary every layer speaks.
NEUTRAL_MESSAGES = "handlers.messages"
# What a channel may not touch: the tables and the database toolkit (queries belong in bot/storage).
CHANNEL_FORBIDDEN = ("bot.models", "sqlalchemy", "sqlmodel")
# The networks' libraries; their types stay inside bot/channels/.
NETWORK_LIBRARIES = ("telegram", "twilio")
# The layer above the channels, which builds and drives them: it may import bot.channels.
CHANNEL_DRIVERS = frozenset(
    {
        "bot.app",  # mounts the channels' routes and starts them
        "bot.cli",  # `sahulat run`'s report, and each channel's own subcommands
        "bot.core",  # the wiring holds the channels (a type-only import)
        "bot.domain.outbox",  # the sender delivers notifications through the channels
        "bot.domain.media",  # the worker fetches the files citizens sent through the channels
    }
)
# Known violations in modules being rewritten elsewhere, to be removed from here as they are fixed:
# (module, imported name) pairs. Empty: none today.
ALLOWED: frozenset[tuple[str, str]] = frozenset()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> Iterator[tuple[str, Path]]:
    for package in SOURCE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield module_name(path), path


def imports(module: str, path: Path) -> Iterator[str]:
    """Every module `path` imports (absolute names; relative imports resolved against `module`)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)  # `from bot import models`


def within(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def violations() -> list[str]:
    found = []
    for module, path in source_modules():
        for name in set(imports(module, path)):
            if (module, name) in ALLOWED:
                continue
            if within(module, CHANNELS):
                if within(name, CHANNEL_FORBIDDEN):
                    found.append(f"{module} imports {name}: a channel parses, renders and sends, no SQL or tables")
            elif within(name, NETWORK_LIBRARIES):
                found.append(f"{module} imports {name}: Telegram and Twilio types stay in bot/channels/")
            elif within(name, CHANNELS) and module not in CHANNEL_DRIVERS:
                found.append(f"{module} imports {name}: handlers, domain and storage do not depend on channels")
            elif within(module, "bot.storage") and within(name, ("handlers", "bot.channels", "bot.domain")):
                found.append(f"{module} imports {name}: storage is the bottom layer")
            elif within(module, "handlers") and within(name, SQL) and not within(name, SESSION_TYPE):
                found.append(f"{module} imports {name}: handlers build no SQL; bot/storage does")
            elif within(module, "bot.domain") and within(name, "handlers") and not within(name, NEUTRAL_MESSAGES):
                found.append(f"{module} imports {name}: the domain sits below the handlers")
    return sorted(set(found))


def test_layers_depend_one_way() -> None:
    assert violations() == []


def test_the_allow_list_names_only_current_violations() -> None:
    """An entry whose import is gone must be removed, so the list only ever shrinks."""
    present = {(module, name) for module, path in source_modules() for name in imports(module, path)}
    assert ALLOWED <= present


@pytest.mark.parametrize(
    ("module", "source", "message"),
    [
        ("bot.channels.x", "from sqlmodel import select", "no SQL or tables"),
        ("bot.channels.x", "from bot import models", "no SQL or tables"),
        ("bot.channels.x", "import sqlalchemy.exc", "no SQL or tables"),
        ("handlers.x", "from telegram import Bot", "stay in bot/channels/"),
        ("bot.domain.complaints", "import twilio.rest", "stay in bot/channels/"),
        ("handlers.x", "from bot.channels.telegram.render import keyboard", "do not depend on channels"),
        ("bot.domain.x", "from handlers.context import Context", "the domain sits below the handlers"),
        ("handlers.x", "from sqlmodel import select", "handlers build no SQL"),
        ("bot.storage.x", "from bot.domain import complaints", "storage is the bottom layer"),
        ("bot.storage.x", "from handlers.messages import Reply", "storage is the bottom layer"),
    ],
)
def test_the_checker_catches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, source: str, message: str
) -> None:
    """The checker itself, on a made-up tree: each rule fires."""
    path = tmp_path.joinpath(*module.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True)
    path.write_text(source + "\n", encoding="utf-8")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "SOURCE_PACKAGES", (module.split(".")[0],))
    assert any(message in line for line in violations())
