"""The database wrapper: turns for message transactions, the pool's size, and recovery from dropped connections."""

from __future__ import annotations

import asyncio

import asyncpg

from bot.core import build_core
from bot.db import DATABASE_OUTAGE, Database
from bot.settings import Settings
from bot.transactions import Unit
from handlers.messages import Incoming

from .conftest import _postgres_url, make_dispatcher, reset_schema, scalar


async def test_message_transactions_run_in_order_of_arrival(database_url: str) -> None:
    db = Database(database_url, pool_size=1)
    order: list[str] = []
    release = asyncio.Event()

    def body(name: str, wait: bool = False):  # type: ignore[no-untyped-def]
        async def run(unit: Unit) -> str:
            if wait:
                await release.wait()
            order.append(name)
            return name

        return run

    first = asyncio.create_task(db.messages.run(body("first", wait=True)))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(db.messages.run(body("waiting")))
    await asyncio.sleep(0.01)
    assert order == []  # one at a time: it waits for the first
    release.set()
    newcomer = asyncio.create_task(db.messages.run(body("newcomer")))  # must not overtake the one waiting
    assert await asyncio.gather(first, waiting, newcomer) == ["first", "waiting", "newcomer"]
    assert order == ["first", "waiting", "newcomer"]
    await db.dispose()


async def test_pool_size_comes_from_the_settings(knowledge) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/unused", database_pool_size=3)
    core = build_core(settings, knowledge=knowledge)
    assert core.db.engine.pool.size() == 3  # type: ignore[attr-defined]
    await core.close()


async def test_after_postgres_drops_every_connection_a_message_fails_once_then_is_processed_once(
    knowledge,  # type: ignore[no-untyped-def]
) -> None:
    """A restart or a proxy dropping idle connections: at most the first message fails, as an outage the
    webhooks answer 503 to; its redelivery is processed, once, and later messages go straight through."""
    url = _postgres_url()
    await reset_schema(url)
    db = Database(url, pool_size=2)
    dispatcher = make_dispatcher(db, knowledge)
    await dispatcher.handle(Incoming(channel="test", user_id="u1", text="hello", message_id="m-1"))

    killer = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    await killer.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    await killer.close()

    message = Incoming(channel="test", user_id="u1", text="startup registration fee", message_id="m-2")
    try:
        outcome = await dispatcher.handle(message)
    except Exception as failed:
        assert isinstance(failed, DATABASE_OUTAGE)  # what the webhooks answer 503 to
        outcome = await dispatcher.handle(message)  # the redelivery
    assert outcome.entry_id == "fee_startup_registration"
    assert (await dispatcher.handle(message)).duplicate
    later = await dispatcher.handle(Incoming(channel="test", user_id="u2", text="hello", message_id="m-3"))
    assert later.intent == "greeting"
    assert await scalar(db, "SELECT count(*) FROM processed_message WHERE external_id = 'm-2'") == 1
    await db.dispose()
