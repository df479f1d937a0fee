"""INSERT ... ON CONFLICT for the database in use.

SQLAlchemy gives each dialect its own `insert()` with `on_conflict_do_nothing` / `on_conflict_do_update` (the same
signatures on SQLite and PostgreSQL); this picks the one for the session's database, so a statement is written
once and runs on both.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession


def upsert_insert(session: AsyncSession, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that can say what to do on a conflict, for `session`'s database."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
