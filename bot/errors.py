"""Database errors sorted by meaning: transient (try again later) or not (trying again fails the same way).

Transient: the database is out of reach or busy for a moment. A webhook answers 503 so Telegram or Twilio
delivers the message again, and the next delivery is likely to go through. Everything else (a constraint, a
missing column after a missed migration, bad data, a bug) would fail on every redelivery: the message becomes a
dead letter instead (handlers.deadletters).

Only public attributes are read: `DBAPIError.connection_invalidated` and `.orig` (SQLAlchemy), the SQLSTATE of
an asyncpg error (`sqlstate`) or of SQLAlchemy's asyncpg adapter's error (`sqlstate`/`pgcode`), and the SQLite
result code of a `sqlite3.Error` (`sqlite_errorcode`, Python 3.11+).
"""

from __future__ import annotations

import sqlite3

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLSTATEs that say "later": serialization failure, deadlock, too many connections, the server shutting down or
# starting up (admin_shutdown, crash_shutdown, cannot_connect_now). Class 08 (connection exceptions) as a whole.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "53300", "57P01", "57P02", "57P03"})
TRANSIENT_SQLSTATE_CLASSES = ("08",)
# SQLite's primary result codes for "another connection holds the lock": SQLITE_BUSY and SQLITE_LOCKED.
SQLITE_BUSY, SQLITE_LOCKED = 5, 6
_MAX_DEPTH = 8  # how far down a chain of wrapped exceptions to look


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE an exception carries (asyncpg's `sqlstate`, or psycopg-style `pgcode`), if any."""
    for name in ("sqlstate", "pgcode"):
        value = getattr(exc, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, then what it wraps: SQLAlchemy's `.orig` (the driver's error), then `__cause__`."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found and len(found) < _MAX_DEPTH:
        found.append(current)
        orig = current.orig if isinstance(current, DBAPIError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return found


def _transient_one(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout | TimeoutError | ConnectionError | OSError):
        return True  # refused, reset or unreachable; a timeout; no pooled connection free in time
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True  # SQLAlchemy saw the connection go (a disconnect)
    if isinstance(exc, asyncpg.PostgresConnectionError):
        return True
    state = sqlstate_of(exc)
    if state and (state in TRANSIENT_SQLSTATES or state.startswith(TRANSIENT_SQLSTATE_CLASSES)):
        return True
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
    return False


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` means the database is unavailable for now (worth a redelivery), rather than that this
    message cannot be handled (a constraint, bad data, a schema that does not match, a bug)."""
    return any(_transient_one(link) for link in _chain(exc))
