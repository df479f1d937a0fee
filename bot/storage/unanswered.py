"""Questions the bot could not answer with confidence, kept for staff (bot.models.UnansweredQuestion)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import UnansweredQuestion

TEXT_CHARS = 4000
USER_CHARS = 128


async def erase_questions(session: AsyncSession, channel: str, user_id: str) -> int:
    """Delete what one person asked (their erasure); returns the rows deleted."""
    table = UnansweredQuestion.__table__
    result = await session.exec(  # type: ignore[call-overload]
        delete(table).where(table.c.channel == channel, table.c.user_id == user_id[:USER_CHARS])
    )
    return int(result.rowcount or 0)


async def keep_question(
    session: AsyncSession,
    *,
    channel: str,
    user_id: str,
    text: str,
    normalized: str,
    language: str,
    intent: str,
    candidates: list[dict[str, Any]],
    now: dt.datetime,
    per_day: int,
) -> bool:
    """Store one question in the message's transaction (it commits, or not, with the message); False, and nothing
    stored, when this chat identity has already left `per_day` in the last 24 hours (citizens write these rows,
    and staff read them all)."""
    table = UnansweredQuestion.__table__
    user_id = user_id[:USER_CHARS]
    recent = select(func.count()).where(
        table.c.channel == channel, table.c.user_id == user_id, table.c.created_at > now - dt.timedelta(days=1)
    )
    if (await session.exec(recent)).scalar_one() >= per_day:  # type: ignore[call-overload]
        return False
    await session.exec(
        insert(table).values(
            channel=channel,
            user_id=user_id,
            text=text[:TEXT_CHARS],
            normalized=normalized[:TEXT_CHARS],
            language=language,
            intent=intent,
            candidates=candidates,
            created_at=now,
            handled=False,
        )
    )
    return True
