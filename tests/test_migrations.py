"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from bot.db import create_engine
from bot.migrate import upgrade


async def _drop_everything(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.drop_all)
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await engine.dispose()


async def _differences(url: str) -> tuple[list[object], set[str]]:
    engine = create_engine(url)

    def compare(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata), set(inspect(connection).get_table_names())

    async with engine.connect() as connection:
        result = await connection.run_sync(compare)
    await engine.dispose()
    return result


def test_upgrade_matches_models_and_is_repeatable(database_url: str) -> None:
    asyncio.run(_drop_everything(database_url))
    upgrade(database_url)
    upgrade(database_url)  # a second run is a no-op, as on every deploy
    diffs, tables = asyncio.run(_differences(database_url))
    assert diffs == []
    assert {"conversation", "processed_message", "user_profile", "unanswered_question", "alembic_version"} <= tables


async def _insert_profile(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO user_profile (channel, user_id, first_seen_at, last_inbound_at) "
                "VALUES ('telegram', '42', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    await engine.dispose()


def test_upgrade_keeps_existing_rows(database_url: str) -> None:
    """Columns added later get defaults for rows written by an older version."""
    asyncio.run(_drop_everything(database_url))
    upgrade(database_url, "0003")
    asyncio.run(_insert_profile(database_url))
    upgrade(database_url)
    diffs, _ = asyncio.run(_differences(database_url))
    assert diffs == []
