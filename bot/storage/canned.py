"""Canned replies' reads and writes (bot/domain/canned.py says what they are)."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import CannedReply


async def all_replies(session: AsyncSession) -> list[CannedReply]:
    return list(await session.exec(select(CannedReply).order_by(col(CannedReply.title), col(CannedReply.id))))


async def by_title(session: AsyncSession, title: str) -> CannedReply | None:
    return (await session.exec(select(CannedReply).where(CannedReply.title == title))).first()


async def get(session: AsyncSession, ident: int) -> CannedReply | None:
    return await session.get(CannedReply, ident)


async def delete(session: AsyncSession, reply: CannedReply) -> None:
    await session.delete(reply)
    await session.flush()
