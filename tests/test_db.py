"""The database wrapper: turns for message transactions, the pool's size, and recovery from dropped connections."""

from __future__ import annotations

import asyncio

import pytest

from bot.core import build_core
from bot.db import Database
from bot.settings import Settings
from bot.transactions import Unit
from handlers.messages import Incoming

from .conftest import _postgres_url, end_connections, make_dispatcher, reset_schema, scalar


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


@pytest.mark.parametrize("lane", ["kept its connection", "gave its connection back"])
async def test_after_postgres_ends_every_connection_the_next_message_goes_straight_through(
    knowledge,  # type: ignore[no-untyped-def]
    lane: str,
) -> None:
    """A restart, or a proxy dropping idle connections: no webhook answers 503 for it once the database is back.

    A busy lane meets its dead connection and runs the message again on a fresh one; a pooled connection is
    pinged as it leaves the pool and replaced.
    """
    url = _postgres_url()
    await reset_schema(url)
    db = Database(url, pool_size=2)
    dispatcher = make_dispatcher(db, knowledge)
    await dispatcher.handle(Incoming(channel="test", user_id="u1", text="hello", message_id="m-1"))
    if lane == "gave its connection back":
        for _ in range(100):  # a lane keeps its connection a second after its last message
            if db.engine.pool.checkedout() == 0:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.05)
        assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    else:
        assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    await end_connections()

    message = Incoming(channel="test", user_id="u1", text="startup registration fee", message_id="m-2")
    outcome = await dispatcher.handle(message)
    assert outcome.entry_id == "fee_startup_registration"
    assert (await dispatcher.handle(message)).duplicate
    later = await dispatcher.handle(Incoming(channel="test", user_id="u2", text="hello", message_id="m-3"))
    assert later.intent == "greeting"
    assert await scalar(db, "SELECT count(*) FROM processed_message WHERE external_id = 'm-2'") == 1
    await db.dispose()
