"""Shared fixtures: the real knowledge base, databases on SQLite and (when configured) PostgreSQL, and the fake
Telegram Bot API.

Storage tests take the `database_url` fixture, which runs them once per backend. PostgreSQL runs when
TEST_DATABASE_URL is set; under CI (CI=true) a missing or unreachable PostgreSQL fails the run instead of
skipping it, so a green CI always means both backends passed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
import uvicorn
from sqlalchemy import text
from sqlmodel import SQLModel
from starlette.types import ASGIApp

import bot.models  # noqa: F401  (registers the tables)
from bot.core import Core
from bot.db import Database, create_engine
from bot.settings import Settings
from handlers.dispatcher import Dispatcher
from knowledge.loader import KnowledgeBase, load_knowledge
from knowledge.matcher import Matcher

from .fake_telegram import FakeTelegram, free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SAHULAT = str(Path(sys.executable).parent / "sahulat")
UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(database_url="sqlite+aiosqlite:///unused.db")


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


async def reset_schema(url: str) -> None:
    """Drop and recreate every table, so each test starts from an empty database."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.drop_all)
            await connection.run_sync(SQLModel.metadata.create_all)
    finally:
        await engine.dispose()


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
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


async def scalar(db: Database, sql: str, **params: object) -> object:
    async with db.engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar()
