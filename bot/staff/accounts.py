"""Staff accounts, password hashing and the login throttle, shared by the dashboard and the `sahulat staff` CLI.

Passwords are hashed with argon2id (argon2-cffi's defaults); the throttle (bot/staff/throttle.py) counts attempts
in the database, so it holds across every web process that shares it.

The hasher is made once, by `build_hasher`, and read from the module attribute `hasher` at every use. The test
suite (tests/conftest.py) swaps in a cheap one through `use_hasher`; nothing else calls it, and no setting or
environment variable changes the production cost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import LoginAttempt, StaffUser, utcnow
from bot.staff import throttle

ROLES = ("viewer", "agent", "supervisor", "admin")  # each may do what those before it may
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 256
BOOTSTRAP_USERNAME = "admin"

# Password checks run here, at most this many at once in a process: argon2 is slow on purpose, and a flood of
# sign-ins must queue rather than take every core from the webhooks.
MAX_CONCURRENT_PASSWORD_CHECKS = 2
_password_checks = ThreadPoolExecutor(MAX_CONCURRENT_PASSWORD_CHECKS, thread_name_prefix="password-check")
ATTEMPT_RETENTION = dt.timedelta(days=1)  # failed attempts; successful ones are kept KNOWN_CLIENT_DAYS
THROTTLE_WINDOW = throttle.THROTTLE_WINDOW


def build_hasher() -> PasswordHasher:
    """The production password hasher: argon2id at argon2-cffi's defaults (RFC 9106's low-memory profile)."""
    return PasswordHasher()


hasher = build_hasher()


def use_hasher(replacement: PasswordHasher) -> PasswordHasher:
    """Hash and verify with `replacement` from now on; returns the hasher it replaces. For tests only: they make
    and sign in to hundreds of accounts, and pay argon2's production time and memory on none of them."""
    global hasher
    previous, hasher = hasher, replacement
    _dummy_hash.cache_clear()  # made by the previous hasher
    return previous


class AccountError(ValueError):
    """A bad account change (unknown role, weak password, duplicate name); the message says what to fix."""


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against for unknown usernames, so their timing matches that of real accounts."""
    return hasher.hash(secrets.token_hex(16))


def normalize_username(username: str) -> str:
    return username.strip().lower()


def check_username(username: str) -> str:
    name = normalize_username(username)
    if not USERNAME_PATTERN.match(name):
        raise AccountError(
            "a username is 2 to 64 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter "
            "or digit"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"the password may have at most {MAX_PASSWORD_CHARS} characters")
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def check_categories(categories: Iterable[str], known: Iterable[str]) -> list[str]:
    wanted = sorted({c.strip() for c in categories if c.strip()})
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise AccountError(f"unknown categories: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return wanted


def has_role(user: StaffUser, role: str) -> bool:
    return ROLE_RANK.get(user.role, -1) >= ROLE_RANK[role]


def generate_password() -> str:
    """A random password for a new or bootstrapped account, shown once."""
    return secrets.token_urlsafe(15)


async def get_staff(session: AsyncSession, username: str) -> StaffUser | None:
    row = await session.exec(select(StaffUser).where(StaffUser.username == normalize_username(username)))
    return row.first()


async def list_staff(session: AsyncSession) -> list[StaffUser]:
    return list(await session.exec(select(StaffUser).order_by(col(StaffUser.username))))


async def count_staff(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(StaffUser))).one())


EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def check_email(address: str | None) -> str | None:
    """An alert address as given (stripped), None for none; AccountError when it cannot be an address."""
    address = (address or "").strip()
    if not address:
        return None
    if len(address) > 128 or not EMAIL.match(address):
        raise AccountError(f"{address[:40]!r} is not an e-mail address")
    return address


async def create_staff(
    session: AsyncSession,
    username: str,
    password: str,
    role: str,
    categories: Iterable[str] = (),
    *,
    body_id: str | None = None,
    email: str | None = None,
    now: dt.datetime | None = None,
) -> StaffUser:
    """A new active account; raises AccountError on a bad name, role, password or e-mail address, or a name already
    taken. `email` is where its staff alerts go (none: the dashboard only)."""
    name = check_username(username)
    check_role(role)
    check_password(password)
    email = check_email(email)
    if await get_staff(session, name) is not None:
        raise AccountError(f"the username {name!r} is taken")
    password_hash = await asyncio.to_thread(hasher.hash, password)
    user = StaffUser(
        username=name,
        password_hash=password_hash,
        role=role,
        categories=sorted(set(categories)),
        body_id=body_id,
        email=email,
        created_at=now or utcnow(),
    )
    session.add(user)
    await session.flush()
    return user


async def set_active(session: AsyncSession, user: StaffUser, active: bool) -> None:
    """Disable (signing out every session at once by bumping the epoch) or re-enable an account."""
    if not active and user.role == "admin" and user.active:
        others = await session.exec(
            select(func.count())
            .select_from(StaffUser)
            .where(StaffUser.role == "admin", col(StaffUser.active).is_(True), StaffUser.id != user.id)
        )
        if int(others.one()) == 0:
            raise AccountError("this is the last active admin; add another admin first")
    user.active = active
    user.session_epoch += 1
    session.add(user)
    await session.flush()


async def set_password(session: AsyncSession, user: StaffUser, password: str) -> None:
    check_password(password)
    user.password_hash = await asyncio.to_thread(hasher.hash, password)
    user.session_epoch += 1
    session.add(user)
    await session.flush()


async def set_categories(session: AsyncSession, user: StaffUser, categories: list[str]) -> None:
    user.categories = sorted(set(categories))
    session.add(user)
    await session.flush()


async def bootstrap_admin(session: AsyncSession) -> str | None:
    """Create the first admin with a one-time password, only when no account exists; returns that password.

    Two processes racing here both see no account; the unique username lets only one insert win.
    """
    if await count_staff(session) > 0:
        return None
    password = generate_password()
    try:
        await create_staff(session, BOOTSTRAP_USERNAME, password, "admin")
        await session.commit()
    except (IntegrityError, AccountError):
        await session.rollback()
        return None
    return password


# -- signing in ----------------------------------------------------------------------------------------


@dataclass
class LoginResult:
    """`user` on success; `throttled` when too many recent failures refused the attempt unchecked."""

    user: StaffUser | None = None
    throttled: bool = False


async def authenticate(
    session: AsyncSession, username: str, password: str, client: str, now: dt.datetime | None = None
) -> LoginResult:
    """Check a sign-in, unless throttled. The attempt is counted and committed before the password is checked
    (`throttle.reserve`); what the check finds is recorded and committed by the caller."""
    now = now or utcnow()
    name = normalize_username(username)[:64]
    client = client[:64]
    if not await throttle.reserve(session, name, client, now):
        return LoginResult(throttled=True)
    user = await get_staff(session, name) if name else None
    stored = user.password_hash if user else _dummy_hash()
    loop = asyncio.get_running_loop()
    ok = await loop.run_in_executor(_password_checks, _verify, stored, password[:MAX_PASSWORD_CHARS])
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(username=name, client=client, succeeded=ok, created_at=now))
    if not ok or user is None:
        return LoginResult()
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(hasher.hash, password)
    user.last_login_at = now
    session.add(user)
    await throttle.release(session, name, client)
    old_failure = col(LoginAttempt.succeeded).is_(False) & (col(LoginAttempt.created_at) < now - ATTEMPT_RETENTION)
    forgotten = col(LoginAttempt.created_at) < now - dt.timedelta(days=throttle.KNOWN_CLIENT_DAYS)
    await session.exec(delete(LoginAttempt).where(old_failure | forgotten))
    return LoginResult(user=user)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
