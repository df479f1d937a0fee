"""INSERT ... ON CONFLICT for the database in use.

SQLAlchemy gives each dialect its own `insert()` with `on_conflict_do_nothing` / `on_conflict_do_update` (the same
signatures on SQLite and PostgreSQL); this picks the one for the session's database, so a statement is written
once and runs on both. The statements every message runs are built once per dialect, with bound parameters
(`bindparam`), and given their values at execution: building a statement costs more than running it.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession


def dialect_of(session: AsyncSession) -> str:
    """The name of the session's database dialect ("sqlite", "postgresql")."""
    return session.get_bind().dialect.name


def upsert_insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that can say what to do on a conflict, for the `dialect` named."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
