"""Questions the bot could not answer with confidence, kept for staff (bot.models.UnansweredQuestion)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert
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
) -> None:
    """Store one question in the message's transaction (it commits, or not, with the message)."""
    table = UnansweredQuestion.__table__
    user_id = user_id[:USER_CHARS]
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
