"""Shared fixtures: the real knowledge base, databases on SQLite and (when configured) PostgreSQL, and the fake
Telegram Bot API.

Storage tests take the `database_url` fixture, which runs them once per backend. PostgreSQL runs when
TEST_DATABASE_URL is set; under CI (CI=true) a missing or unreachable PostgreSQL fails the run instead of
skipping it, so a green CI always means both backends passed.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import io
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
import uvicorn
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel
from starlette.types import ASGIApp

import bot.app
import bot.models  # noqa: F401  (registers the tables)
from bot.core import Core
from bot.db import Database, create_engine
from bot.settings import Settings, get_settings
from bot.staff import accounts
from handlers.dispatcher import Dispatcher
from knowledge.loader import KnowledgeBase, load_knowledge
from knowledge.matcher import Matcher

from .fake_telegram import FakeTelegram, Server, free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SAHULAT = str(Path(sys.executable).parent / "sahulat")
TEST_SECRET_KEY = "test-secret-key-long-enough-to-serve-anywhere"
UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# argon2id as in production, at the lowest cost argon2 allows: hashes still start "$argon2id$" and verify the same
# way, but cost microseconds instead of about half a second and 64 MiB each.
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _worker_database() -> None:
    """Under pytest-xdist (`make test` runs four workers) each worker gets a PostgreSQL database of its own, made
    here on first use: tests reset their database and end its connections, which must not touch another worker's.
    Subprocesses the tests start inherit it through TEST_DATABASE_URL."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not worker or not url:
        return
    base = make_url(url)
    own = base.set(database=f"{base.database}_{worker}")

    async def create() -> None:
        connection = await asyncpg.connect(base.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", own.database):
                await connection.execute(f'CREATE DATABASE "{own.database}"')
        finally:
            await connection.close()

    asyncio.run(create())
    os.environ["TEST_DATABASE_URL"] = own.render_as_string(hide_password=False)


_worker_database()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[PasswordHasher]:
    """Every test (and every in-process `sahulat` command) hashes with TEST_HASHER; production keeps
    `accounts.build_hasher()`. A `sahulat` subprocess hashes at production cost."""
    previous = accounts.use_hasher(TEST_HASHER)
    yield TEST_HASHER
    accounts.use_hasher(previous)


FREEZE_HEAP_IN_PRODUCTION = bot.app.freeze_heap_at_startup  # as the product sets it, before the fixture below


@pytest.fixture(scope="session", autouse=True)
def no_heap_freeze_at_app_startup() -> Iterator[None]:
    """Apps started in this process skip start-up's full collection and gc.freeze() (`bot.app`): a fifth of a
    second each, hundreds of times. The test of that step turns it back on; `sahulat run` subprocesses
    (test_run, test_scale_out) do it as production does."""
    bot.app.freeze_heap_at_startup = False
    yield
    bot.app.freeze_heap_at_startup = FREEZE_HEAP_IN_PRODUCTION


@pytest.fixture(scope="session")
def settings() -> Settings:
    # A key long enough to serve on PostgreSQL too (the tests' apps copy these settings with another database).
    return Settings(database_url="sqlite+aiosqlite:///unused.db", secret_key=TEST_SECRET_KEY)


@pytest.fixture(scope="session")
def knowledge(settings: Settings) -> tuple[KnowledgeBase, Matcher]:
    kb = load_knowledge(settings.knowledge_dir, settings.sources_dir)
    return kb, Matcher(kb)


@pytest.fixture(scope="session")
def kb(knowledge: tuple[KnowledgeBase, Matcher]) -> KnowledgeBase:
    return knowledge[0]


@pytest.fixture(scope="session")
def matcher(knowledge: tuple[KnowledgeBase, Matcher]) -> Matcher:
    return knowledge[1]


def _postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        if UNDER_CI:
            pytest.fail("TEST_DATABASE_URL is not set: storage tests must run on PostgreSQL under CI")
        pytest.skip("TEST_DATABASE_URL not set; PostgreSQL storage tests skipped (they run in CI)")
    return url


async def end_connections(where: str = "true", *args: object) -> None:
    """PostgreSQL ends the test database's connections that `where` picks (all of them: as a restart would)."""
    killer = await asyncpg.connect(_postgres_url().replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await killer.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            f" WHERE datname = current_database() AND pid <> pg_backend_pid() AND ({where})",
            *args,
        )
    finally:
        await killer.close()


async def _create_schema(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.drop_all)
            await connection.run_sync(SQLModel.metadata.create_all)
    finally:
        await engine.dispose()


# The current schema is made once per session and database; each test then starts from a cheap copy of it.
# SQLite: a template file, made once and copied to the test's new file. PostgreSQL: every table emptied in one
# statement, as long as the schema is still the one made (its fingerprint, one query, is compared first); a test
# that changed the schema (the migration tests) gets a full drop and create before the next test instead.
_sqlite_template: Path | None = None
_postgres_fingerprints: dict[str, str] = {}

SCHEMA_FINGERPRINT = """
SELECT md5(coalesce(string_agg(item, ';' ORDER BY item), '')) FROM (
    SELECT c.relname || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull
        || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS item
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0
        AND NOT a.attisdropped
    UNION ALL
    SELECT conrelid::regclass::text || ':' || conname || ':' || pg_get_constraintdef(oid) FROM pg_constraint
    WHERE connamespace = current_schema()::regnamespace
    UNION ALL
    SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()
) AS items
"""


async def _sqlite_template_file() -> Path:
    global _sqlite_template
    if _sqlite_template is None:
        folder = Path(tempfile.mkdtemp(prefix="sahulat-schema-"))
        atexit.register(shutil.rmtree, folder, True)
        await _create_schema(f"sqlite+aiosqlite:///{folder / 'template.db'}")
        _sqlite_template = folder / "template.db"
    return _sqlite_template


def _copy_sqlite_template(template: Path, target: Path) -> bool:
    """Copy the template to a new file `target`; False (and nothing copied) if `target` exists."""
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal"):  # the log too, should SQLite have left one (the copy reads it as committed)
        if Path(f"{template}{suffix}").exists():
            shutil.copyfile(f"{template}{suffix}", f"{target}{suffix}")
    return True


async def _empty_postgres(url: str) -> bool:
    """Empty every table, ids from 1 again, if the schema is still the one `_create_schema` made; else False."""
    expected = _postgres_fingerprints.get(url)
    if expected is None:
        return False
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        if await connection.fetchval(SCHEMA_FINGERPRINT) != expected:
            return False
        # DELETE, children first, and each sequence restarted: for a test's few rows about ten times faster than
        # TRUNCATE, which swaps every table's files.
        sequences = await connection.fetch("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
        statements = [f'DELETE FROM "{table.name}"' for table in reversed(SQLModel.metadata.sorted_tables)]
        statements += [f'ALTER SEQUENCE "{row["sequencename"]}" RESTART' for row in sequences]
        await connection.execute("; ".join(statements))
        return True
    finally:
        await connection.close()


async def _remember_postgres_schema(url: str) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        _postgres_fingerprints[url] = await connection.fetchval(SCHEMA_FINGERPRINT)
    finally:
        await connection.close()


async def reset_schema(url: str) -> None:
    """An empty database with the current schema (every table of the models, none of their rows, ids from 1).

    The schema itself is made once per session (see above); a new SQLite file gets a copy of it, an existing
    one is dropped and made again.
    """
    if url.startswith("sqlite"):
        target = Path(make_url(url).database or "")
        if not (target.name and await asyncio.to_thread(_copy_sqlite_template, await _sqlite_template_file(), target)):
            await _create_schema(url)
        return
    if await _empty_postgres(url):
        return
    _postgres_fingerprints.pop(url, None)
    await _create_schema(url)
    await _remember_postgres_schema(url)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database with the current schema, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    else:
        url = _postgres_url()
    try:
        asyncio.run(reset_schema(url))
    except OSError as exc:
        if UNDER_CI:
            pytest.fail(f"PostgreSQL at TEST_DATABASE_URL is unreachable under CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


def make_dispatcher(db: Database, knowledge: tuple[KnowledgeBase, Matcher], **kwargs: object) -> Dispatcher:
    kb, matcher = knowledge
    return Dispatcher(db, kb, matcher, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def dispatcher(db: Database, knowledge: tuple[KnowledgeBase, Matcher]) -> Dispatcher:
    return make_dispatcher(db, knowledge, flow_timeout=dt.timedelta(minutes=30))


@pytest.fixture
def core(
    db: Database, dispatcher: Dispatcher, settings: Settings, knowledge: tuple[KnowledgeBase, Matcher]
) -> Iterator[Core]:
    kb, matcher = knowledge
    yield Core(settings=settings, db=db, kb=kb, matcher=matcher, dispatcher=dispatcher)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """A stand-in for the Telegram Bot API on 127.0.0.1 (PTB talks real HTTP to it through `base_url`)."""
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@contextmanager
def serve(app: ASGIApp, timeout: float = 30.0) -> Iterator[str]:
    """Run an ASGI app under uvicorn on 127.0.0.1 in a thread (its own event loop); yields its base URL."""
    port = free_port()
    server = Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


@contextmanager
def _process_state(
    env: Mapping[str, str] | None, cwd: Path, stdin: io.TextIOWrapper
) -> Iterator[tuple[io.BytesIO, io.BytesIO]]:
    """What a new process would have: `env` as its whole environment, `cwd`, fresh settings, `stdin`; standard
    output and error (logging included, as `main` configures it) go to new buffers, yielded as out and err."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    out, err = io.BytesIO(), io.BytesIO()
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    get_settings.cache_clear()
    os.chdir(cwd)
    sys.stdin = stdin
    sys.stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    # `main` calls logging.basicConfig, a no-op under pytest (its handlers are on the root logger): do what it
    # would do in a process of its own, so log lines (a traceback, say) land in err as they would there.
    log_to_err = logging.StreamHandler(sys.stderr)
    log_to_err.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(log_to_err)
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    try:
        yield out, err
    finally:
        for writer in (sys.stdout, sys.stderr):
            writer.flush()
            writer.detach()  # else the dropped wrapper closes the buffer before it is read
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        get_settings.cache_clear()


_in_process = threading.Lock()


def sahulat(
    *args: str, stdin: bytes | str | None = None, env: Mapping[str, str] | None = None, cwd: Path = ROOT
) -> tuple[int, str, str]:
    """`sahulat ARGS` run in this process, through the console script's entry point (bot.cli.main): its exit
    code, standard output and standard error, as `subprocess.run([SAHULAT, *args], env=env, ...)` would give.

    `env`, when given, is the whole environment (as for subprocess); standard input is `stdin` (empty if None).
    Commands run their own event loop (asyncio.run), so call this from a synchronous test, or from an async
    one through `asyncio.to_thread`. Keep a real subprocess where the process itself is under test (start-up,
    signals, `python -m bot`); each costs a second or more of interpreter and import time.
    """
    from bot.cli import main

    data = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
    reader = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    with _in_process, _process_state(env, cwd, reader) as (out, err):
        try:
            code: object = main(list(args))
        except SystemExit as exit_:  # argparse: --help (0) and usage errors (2)
            code = exit_.code
        if code is None:
            code = 0
        elif not isinstance(code, int):  # SystemExit("message"): printed, exit status 1
            print(code, file=sys.stderr)
            code = 1
    return code, out.getvalue().decode(), err.getvalue().decode()


async def scalar(db: Database, sql: str, **params: object) -> object:
    async with db.engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar()
