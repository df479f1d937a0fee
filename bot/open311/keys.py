"""API keys for filing requests: stored as SHA-256 hashes only, the key itself shown once when made."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import ApiKey, utcnow
from bot.open311.formats import Open311Error


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def add_key(session: AsyncSession, name: str) -> str:
    """Create a key named `name`; the key itself is returned once and only its hash is stored."""
    key = secrets.token_urlsafe(24)
    session.add(ApiKey(name=name, key_hash=hash_key(key)))
    await session.flush()
    return key


async def check_key(session: AsyncSession, key: str | None) -> ApiKey:
    if not key:
        raise Open311Error(403, "api_key is required to file a service request")
    digest = hash_key(key)
    row = (await session.exec(select(ApiKey).where(ApiKey.key_hash == digest))).first()
    if row is None or not row.active or not hmac.compare_digest(row.key_hash, digest):
        raise Open311Error(403, "api_key is not valid")
    row.last_used_at = utcnow()
    session.add(row)
    return row
