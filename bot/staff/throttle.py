"""The sign-in throttle: counters reserved before a password is checked, per account and address.

Each attempt first adds one to three counters in one atomic upsert each, and commits, so simultaneous guesses
are counted before any of them is checked (issue 20, finding 9: counting rows and then inserting let 22 of 40 in).
The account-and-address counter stops guessing at one account from one place; the address counter stops spraying
many accounts from one place; the account counter stops a spread-out attack on one account, but lets a correct
password through from an address that signed in to that account before, so nobody can lock staff out on demand
(finding 10). Past a global failure budget, only such known addresses are checked at all: a spray from many
addresses cannot keep the password checks (argon2, deliberately slow) busy (finding 5).
`sahulat staff unlock USERNAME` clears an account's counters.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case, delete, literal, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import LoginAttempt, LoginThrottle, UTCDateTime

THROTTLE_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT_AND_CLIENT = 5
MAX_FAILURES_PER_CLIENT = 20
MAX_FAILURES_PER_ACCOUNT = 20  # from addresses that never signed in to it; known ones are still checked
MAX_FAILURES_OVERALL = 200  # every account and address together; beyond it only known addresses are checked
KNOWN_CLIENT_DAYS = 90  # a successful sign-in makes its address known to the account for this long

LIMITS = {
    "pair": MAX_FAILURES_PER_ACCOUNT_AND_CLIENT,
    "client": MAX_FAILURES_PER_CLIENT,
    "account": MAX_FAILURES_PER_ACCOUNT,
    "all": MAX_FAILURES_OVERALL,
}


def keys(username: str, client: str) -> dict[str, str]:
    return {
        "pair": f"pair:{username}|{client}",
        "client": f"client:{client}",
        "account": f"account:{username}",
        "all": "all",
    }


async def _reserve(session: AsyncSession, key: str, now: dt.datetime) -> int:
    """Add one to `key`'s counter (starting it afresh if its window ended) and return the new count, atomically."""
    connection = await session.connection()
    insert = postgres_insert if connection.dialect.name == "postgresql" else sqlite_insert
    table = LoginThrottle.__table__  # type: ignore[attr-defined]
    expired = table.c.window_start < literal(now - THROTTLE_WINDOW, UTCDateTime())
    statement = (
        insert(table)
        .values(key=key, window_start=now, failures=1)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "failures": case((expired, 1), else_=table.c.failures + 1),
                "window_start": case((expired, literal(now, UTCDateTime())), else_=table.c.window_start),
            },
        )
        .returning(table.c.failures)
    )
    return int((await session.exec(statement)).scalar_one())  # type: ignore[call-overload]


async def reserve(session: AsyncSession, username: str, client: str, now: dt.datetime) -> bool:
    """Count this attempt (committed at once, before the slow password check); True when it may be checked."""
    counts = {kind: await _reserve(session, key, now) for kind, key in keys(username, client).items()}
    await session.commit()
    if counts["pair"] > LIMITS["pair"] or counts["client"] > LIMITS["client"]:
        return False
    if counts["account"] <= LIMITS["account"] and counts["all"] <= LIMITS["all"]:
        return True
    return await known_client(session, username, client, now)


async def release(session: AsyncSession, username: str, client: str) -> None:
    """A correct password: this attempt was no failure, and this account's guesses from this address are forgiven."""
    pair, *others = keys(username, client).values()
    await session.exec(delete(LoginThrottle).where(col(LoginThrottle.key) == pair))  # type: ignore[call-overload]
    await session.exec(  # type: ignore[call-overload]
        update(LoginThrottle)
        .where(col(LoginThrottle.key).in_(others), col(LoginThrottle.failures) > 0)
        .values(failures=LoginThrottle.failures - 1)
    )


async def known_client(session: AsyncSession, username: str, client: str, now: dt.datetime) -> bool:
    since = now - dt.timedelta(days=KNOWN_CLIENT_DAYS)
    row = await session.exec(
        select(LoginAttempt.id)
        .where(
            LoginAttempt.username == username,
            LoginAttempt.client == client,
            col(LoginAttempt.succeeded).is_(True),
            col(LoginAttempt.created_at) >= since,
        )
        .limit(1)
    )
    return row.first() is not None


async def unlock(session: AsyncSession, username: str) -> int:
    """Clear an account's counters (from every address); returns how many there were."""
    account = col(LoginThrottle.key) == keys(username, "")["account"]
    pairs = col(LoginThrottle.key).startswith(f"pair:{username}|", autoescape=True)
    result = await session.exec(delete(LoginThrottle).where(account | pairs))  # type: ignore[call-overload]
    return int(result.rowcount or 0)
