"""The database wrapper: turns for message transactions, the pool's size, and recovery from dropped connections."""

from __future__ import annotations

from bot.core import build_core
from bot.db import Database
from bot.settings import Settings
from handlers.messages import Incoming

from .conftest import _postgres_url, end_connections, make_dispatcher, reset_schema, scalar


async def test_pool_size_comes_from_the_settings(knowledge) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/unused", database_pool_size=3)
    core = build_core(settings, knowledge=knowledge)
    assert core.db.engine.pool.size() == 3  # type: ignore[attr-defined]
    await core.close()


async def test_after_postgres_ends_every_connection_the_next_message_goes_straight_through(
    knowledge,  # type: ignore[no-untyped-def]
) -> None:
    """A restart, or a proxy dropping idle connections: no webhook answers 503 for it once the database is back.

    A pooled connection is pinged as it leaves the pool and replaced.
    """
    url = _postgres_url()
    await reset_schema(url)
    db = Database(url, pool_size=2)
    dispatcher = make_dispatcher(db, knowledge)
    await dispatcher.handle(Incoming(channel="test", user_id="u1", text="hello", message_id="m-1"))
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    await end_connections()

    message = Incoming(channel="test", user_id="u1", text="startup registration fee", message_id="m-2")
    outcome = await dispatcher.handle(message)
    assert outcome.entry_id == "fee_startup_registration"
    assert (await dispatcher.handle(message)).duplicate
    later = await dispatcher.handle(Incoming(channel="test", user_id="u2", text="hello", message_id="m-3"))
    assert later.intent == "greeting"
    assert await scalar(db, "SELECT count(*) FROM processed_message WHERE external_id = 'm-2'") == 1
    await db.dispose()
