"""The database wrapper: message transactions take turns in order of arrival, within the pool's size."""

from __future__ import annotations

import asyncio

from bot.core import build_core
from bot.db import Database
from bot.settings import Settings


async def test_message_transactions_take_turns_in_order_of_arrival(database_url: str) -> None:
    db = Database(database_url, pool_size=1)
    order: list[str] = []

    async def waiting() -> None:
        async with db.writer():
            order.append("waiting")

    async with db.writer():
        task = asyncio.create_task(waiting())
        await asyncio.sleep(0.01)
        assert order == []  # one at a time: it waits for us
    async with db.writer():  # straight after letting go, without yielding: a newcomer must not overtake it
        order.append("newcomer")
    await task
    assert order == ["waiting", "newcomer"]
    await db.dispose()


async def test_pool_size_comes_from_the_settings(knowledge) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/unused", database_pool_size=3)
    core = build_core(settings, knowledge=knowledge)
    assert core.db.engine.pool.size() == 3  # type: ignore[attr-defined]
    await core.close()
