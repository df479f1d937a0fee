"""Questions the bot could not answer with confidence, kept for staff (bot.models.UnansweredQuestion)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import UnansweredQuestion

TEXT_CHARS = 4000


async def keep_question(
    session: AsyncSession,
    *,
    channel: str,
    text: str,
    normalized: str,
    language: str,
    intent: str,
    candidates: list[dict[str, Any]],
    now: dt.datetime,
) -> None:
    """Store one question in the message's transaction (it commits, or not, with the message)."""
    await session.exec(
        insert(UnansweredQuestion.__table__).values(
            channel=channel,
            text=text[:TEXT_CHARS],
            normalized=normalized[:TEXT_CHARS],
            language=language,
            intent=intent,
            candidates=candidates,
            created_at=now,
            handled=False,
        )
    )
