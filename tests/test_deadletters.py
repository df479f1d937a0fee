"""Errors sorted by meaning: the classifier on real exceptions, dead letters in the core, their erasure and purge,
and `sahulat deadletters`. (The channels' side is in tests/test_whatsapp.py and tests/test_telegram.py, the
dashboard's in tests/test_staff.py.) Storage tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import Database
from bot.domain.privacy import erase_user, purge_logs
from bot.errors import is_transient, sqlstate_of
from bot.migrate import upgrade
from bot.models import DeadLetter, Notification
from handlers import deadletters
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming, Location, Media
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher

from .conftest import _postgres_url, make_dispatcher, scalar
from .conftest import sahulat as sahulat_in_process

CLAIM_TWICE = "INSERT INTO processed_message (channel, external_id, user_id, received_at, handled_at) VALUES "
LONE_SURROGATE = "\ud800"  # what a JSON "\ud800" escape decodes to; no database column can store it


def msg(text: str, message_id: str, user_id: str = "u1", **kw: object) -> Incoming:
    return Incoming(channel="test", user_id=user_id, text=text, message_id=message_id, **kw)  # type: ignore[arg-type]


async def dead_letters(db: Database) -> list[DeadLetter]:
    async with db.session() as session:
        return list(await session.exec(select(DeadLetter).order_by(DeadLetter.id)))  # type: ignore[arg-type]


# --- the classifier, on real exceptions ----------------------------------------------------------------------


async def test_a_duplicate_insert_is_not_transient(db: Database) -> None:
    """Through SQLAlchemy (an IntegrityError), on a connection and inside a message transaction."""
    row = "('test', 'dup', 'u1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    async with db.engine.begin() as connection:
        await connection.execute(text(CLAIM_TWICE + row))
    with pytest.raises(IntegrityError) as caught:
        async with db.engine.begin() as connection:
            await connection.execute(text(CLAIM_TWICE + row))
    assert not is_transient(caught.value)

    async def twice(session: AsyncSession) -> None:
        await session.exec(text(CLAIM_TWICE + row))

    with pytest.raises(Exception) as raw:
        await db.messages.run(twice)
    assert not is_transient(raw.value), repr(raw.value)


async def test_a_missing_column_is_not_transient(db: Database) -> None:
    with pytest.raises(DBAPIError) as caught:
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT no_such_column FROM processed_message"))
    assert not is_transient(caught.value)


async def test_a_refused_connection_is_transient() -> None:
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")  # nobody listens on port 1
    try:
        with pytest.raises(Exception) as caught:
            await db.ping()
    finally:
        await db.dispose()
    assert is_transient(caught.value), repr(caught.value)
    assert is_transient(TimeoutError()) and is_transient(PoolTimeout("no connection free"))
    assert not is_transient(RuntimeError("a bug")) and not is_transient(UnicodeEncodeError("utf-8", "", 0, 1, "x"))


def test_sqlite_busy_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as caught:
        other.execute("BEGIN IMMEDIATE")
    holder.close()
    other.close()
    assert is_transient(caught.value)


@pytest.mark.parametrize(
    ("sqlstate", "transient"),
    [("40001", True), ("40P01", True), ("57P01", True), ("57P03", True), ("53300", True), ("08006", True)]
    + [("23505", False), ("42703", False), ("22021", False)],
)
async def test_postgres_errors_by_sqlstate(sqlstate: str, transient: bool) -> None:
    """The server raises each SQLSTATE for real; it is read from asyncpg's error and from SQLAlchemy's wrapper."""
    db = Database(_postgres_url())
    raise_it = f"DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '{sqlstate}'; END $$"
    try:
        with pytest.raises(DBAPIError) as wrapped:
            async with db.engine.connect() as connection:
                await connection.execute(text(raise_it))
        assert sqlstate_of(wrapped.value.orig) == sqlstate  # type: ignore[arg-type]
        assert is_transient(wrapped.value) is transient

        async def raw(session: AsyncSession) -> None:
            await session.exec(text(raise_it))

        with pytest.raises(DBAPIError) as direct:
            await db.messages.run(raw)
        assert sqlstate_of(direct.value.orig) == sqlstate  # type: ignore[arg-type]
        assert is_transient(direct.value) is transient
    finally:
        await db.dispose()


# --- dead letters in the core ----------------------------------------------------------------------------------


def test_the_neutral_message_survives_its_record() -> None:
    original = Incoming(
        channel="whatsapp",
        user_id="92300",
        text="hello",
        display_name="Ayesha",
        language_hint="ur",
        message_id="SM1",
        payload="cmd:menu",
        media=(Media("photo", "https://example.org/m", "image/jpeg"),),
        location=Location(33.6, 73.0),
        can_attach=True,
    )
    record = json.loads(json.dumps(deadletters.message_record(original)))
    assert deadletters.message_from_record(record) == original


async def test_a_poison_message_is_kept_once_and_answered_with_an_apology(dispatcher: Dispatcher, db: Database) -> None:
    """A real bad input: a name with a lone surrogate cannot be stored in the profile, on either database."""
    poison = msg("hello", "poison-1", display_name=f"Ali {LONE_SURROGATE}")
    outcome = await dispatcher.handle(poison, payload='{"update_id": 1, "name": "Ali \\ud800"}')
    assert outcome.intent == "failed" and not outcome.duplicate
    assert outcome.replies[0].text == dispatcher.kb.texts("handling_failed", "en")
    [dead] = await dead_letters(db)
    assert (dead.channel, dead.message_id, dead.user_id, dead.status) == ("test", "poison-1", "u1", "open")
    assert "UnicodeEncodeError" in dead.traceback and dead.error_type
    assert dead.payload == '{"update_id": 1, "name": "Ali \\ud800"}'
    assert deadletters.message_from_record(dead.message) == poison
    # The claim was kept with it: the redelivery is a duplicate, and no second dead letter is made.
    assert (await dispatcher.handle(poison, payload="again")).duplicate
    assert len(await dead_letters(db)) == 1
    assert await scalar(db, "SELECT count(*) FROM processed_message WHERE external_id = 'poison-1'") == 1
    # The user's other messages go on as usual.
    assert (await dispatcher.handle(msg("startup registration fee", "after-1"))).entry_id == "fee_startup_registration"


async def test_the_apology_is_in_the_users_language(dispatcher: Dispatcher, db: Database) -> None:
    await dispatcher.handle(msg("urdu me batao", "lang-1"))
    outcome = await dispatcher.handle(msg("hello", "lang-2", display_name=LONE_SURROGATE))
    assert outcome.replies[0].text == dispatcher.kb.texts("handling_failed", "ur")
    roman = await dispatcher.handle(msg("mujhe kuch poochna hai", "lang-3", user_id="u2", display_name=LONE_SURROGATE))
    assert roman.language in ("roman", "en") and roman.intent == "failed"


async def test_a_transient_failure_keeps_nothing(
    dispatcher: Dispatcher, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handlers.dispatcher as module

    async def lost(ctx):  # type: ignore[no-untyped-def]
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(module, "answer_question", lost)
    with pytest.raises(ConnectionResetError):
        await dispatcher.handle(msg("startup registration fee", "t-1"))
    assert await dead_letters(db) == []
    assert await scalar(db, "SELECT count(*) FROM processed_message") == 0


async def test_storing_the_dead_letter_transiently_failing_is_raised(
    dispatcher: Dispatcher, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*args: object) -> None:
        raise ConnectionRefusedError("database down")

    monkeypatch.setattr(deadletters, "_language", down)
    with pytest.raises(ConnectionRefusedError):
        await dispatcher.handle(msg("hello", "t-2", display_name=LONE_SURROGATE))
    assert await dead_letters(db) == []
    assert await scalar(db, "SELECT count(*) FROM processed_message") == 0


async def test_retry_runs_the_message_again_with_replies_in_the_outbox(
    dispatcher: Dispatcher, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handlers.dispatcher as module

    async def broken(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug in answering")

    with monkeypatch.context() as patch:
        patch.setattr(module, "answer_question", broken)
        assert (await dispatcher.handle(msg("startup registration fee", "r-1"))).intent == "failed"
        [dead] = await dead_letters(db)
        assert dead.error_type == "builtins.RuntimeError" and dead.error_message == "a bug in answering"
        failed = await deadletters.retry(dispatcher, dead.id or 0, "staff:boss")  # still broken: stays open
        assert not failed.ok and failed.dead_letter.status == "open" and failed.dead_letter.attempts == 2
    result = await deadletters.retry(dispatcher, dead.id or 0, "staff:boss")
    assert result.ok and result.outcome is not None and result.outcome.entry_id == "fee_startup_registration"
    assert result.dead_letter.status == "retried" and result.dead_letter.retried_at is not None
    assert result.dead_letter.updated_by == "staff:boss"
    async with db.session() as session:
        [kept] = list(await session.exec(select(Notification).where(Notification.kind == "reply")))
    assert (kept.channel, kept.user_id, kept.status) == ("test", "u1", "pending") and "Rs 1,000" in kept.text
    assert await scalar(db, "SELECT count(*) FROM processed_message WHERE external_id = 'r-1'") == 1
    assert (await dispatcher.handle(msg("startup registration fee", "r-1"))).duplicate
    with pytest.raises(deadletters.DeadLetterError):
        await deadletters.retry(dispatcher, dead.id or 0, "staff:boss")  # only open ones


async def test_erasure_and_the_log_purge_cover_dead_letters(dispatcher: Dispatcher, db: Database) -> None:
    await dispatcher.handle(msg("hello", "e-1", display_name=LONE_SURROGATE))
    await dispatcher.handle(msg("hello", "e-2", user_id="u2", display_name=LONE_SURROGATE))
    async with db.session() as session:
        await erase_user(session, "test", "u1", key="k")
        await session.commit()
    assert [d.user_id for d in await dead_letters(db)] == ["u2"]
    async with db.session() as session:
        await purge_logs(session, 30)  # nothing is old yet
        await session.commit()
    assert len(await dead_letters(db)) == 1
    async with db.session() as session:
        await purge_logs(session, 30, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=31))
        await session.commit()
    assert await dead_letters(db) == []


# --- sahulat deadletters ---------------------------------------------------------------------------------------


def test_deadletters_commands_have_help() -> None:
    for command in (["deadletters"], ["deadletters", "list"], ["deadletters", "retry"], ["deadletters", "dismiss"]):
        code, out, _ = sahulat_in_process(*command, "--help")
        assert code == 0 and out.startswith("usage: sahulat"), command


def test_cli_lists_and_retries_dead_letters(
    database_url: str, tmp_path: Path, knowledge: tuple[KnowledgeBase, Matcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `sahulat` migrates a SQLite file itself; the fixture's file has no Alembic history, so use a new one there
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}" if database_url.startswith("sqlite") else database_url
    if url.startswith("sqlite"):
        upgrade(url)

    def cli(*args: str) -> tuple[int, str, str]:
        return sahulat_in_process(*args, env={**os.environ, "DATABASE_URL": url})

    import handlers.dispatcher as module

    async def broken(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug in answering")

    async def seed() -> None:
        db = Database(url)
        dispatcher = make_dispatcher(db, knowledge)
        try:
            with monkeypatch.context() as patch:
                patch.setattr(module, "answer_question", broken)
                await dispatcher.handle(msg("startup registration fee", "cli-1"))
            await dispatcher.handle(msg("hello", "cli-2", user_id="u2", display_name=LONE_SURROGATE))
        finally:
            await db.dispose()

    asyncio.run(seed())
    code, out, err = cli("deadletters", "list", "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["message_id"] for r in records] == ["cli-2", "cli-1"]  # newest first
    first = records[1]
    assert first["error_type"] == "builtins.RuntimeError" and first["status"] == "open"
    assert first["text"] == "startup registration fee" and first["channel"] == "test"

    code, out, err = cli("deadletters", "retry", str(first["id"]))
    assert code == 0, err
    assert f"dead letter {first['id']} retried" in out
    code, out, err = cli("deadletters", "retry", str(records[0]["id"]))  # the bad name is still bad
    assert code == 1 and "failed again" in err

    code, out, _ = cli("deadletters", "list")
    assert code == 0 and "1 dead letter(s) open" in out
    assert any(name in out for name in ("UnicodeEncodeError", "DBAPIError"))  # the driver refusing the name
    code, out, _ = cli("deadletters", "list", "--all", "--json")
    statuses = {r["message_id"]: (r["status"], r["attempts"]) for r in map(json.loads, out.splitlines())}
    assert statuses == {"cli-1": ("retried", 1), "cli-2": ("open", 2)}
    code, _, err = cli("deadletters", "retry", str(first["id"]))
    assert code == 1 and "not open" in err
    code, out, _ = cli("deadletters", "dismiss", str(records[0]["id"]))
    assert code == 0 and "dismissed" in out
    code, _, err = cli("deadletters", "retry", "9999")
    assert code == 1 and "no dead letter 9999" in err

    async def kept_replies() -> list[str]:
        db = Database(url)
        try:
            async with db.session() as session:
                return [n.text for n in await session.exec(select(Notification).where(Notification.kind == "reply"))]
        finally:
            await db.dispose()

    [reply] = asyncio.run(kept_replies())
    assert "Rs 1,000" in reply


async def test_a_retry_runs_even_after_a_request_signed_like_it_was_answered_as_a_duplicate(
    dispatcher: Dispatcher, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WhatsApp messages carry a replay key (their signature): the failed run's claim of it rolled back, a later
    redelivery claimed it; the staff's retry must still handle the message, not answer it as a replay."""
    import handlers.dispatcher as module

    async def broken(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug in answering")

    signed = dataclasses.replace(msg("startup registration fee", "s-1"), replay_key="signature:abc")
    with monkeypatch.context() as patch:
        patch.setattr(module, "answer_question", broken)
        assert (await dispatcher.handle(signed)).intent == "failed"
    assert not (await dispatcher.handle(dataclasses.replace(signed, message_id="s-2"))).duplicate  # claims the key
    [dead] = await dead_letters(db)
    result = await deadletters.retry(dispatcher, dead.id or 0, "staff:boss")
    assert result.ok and result.outcome is not None and result.outcome.entry_id == "fee_startup_registration"
