"""Bodies and routing rules in the database: the queries behind bot/domain/routing.py."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Body, Complaint, RoutingRule, StaffUser


async def bodies(session: AsyncSession) -> list[Body]:
    return list(await session.exec(select(Body).order_by(col(Body.id))))


async def body(session: AsyncSession, body_id: str) -> Body | None:
    return await session.get(Body, body_id)


async def any_body(session: AsyncSession) -> bool:
    return (await session.exec(select(Body.id).limit(1))).first() is not None


async def rules(session: AsyncSession, category: str | None = None) -> list[RoutingRule]:
    query = select(RoutingRule)
    if category is not None:
        query = query.where(RoutingRule.category == category)
    order = (col(RoutingRule.category), col(RoutingRule.province), col(RoutingRule.district), col(RoutingRule.id))
    return list(await session.exec(query.order_by(*order)))


async def rule(session: AsyncSession, rule_id: int) -> RoutingRule | None:
    return await session.get(RoutingRule, rule_id)


async def complaints_of(session: AsyncSession, body_id: str) -> int:
    query = select(func.count()).select_from(Complaint).where(Complaint.body_id == body_id)
    return int((await session.exec(query)).one())


async def accounts_of(session: AsyncSession, body_id: str) -> list[StaffUser]:
    return list(await session.exec(select(StaffUser).where(StaffUser.body_id == body_id).order_by(StaffUser.username)))


async def remove_body(session: AsyncSession, body_id: str) -> None:
    """The body and its rules; the caller has checked that no complaint or account points at it."""
    await session.exec(delete(RoutingRule).where(col(RoutingRule.body_id) == body_id))  # type: ignore[call-overload]
    await session.exec(delete(Body).where(col(Body.id) == body_id))  # type: ignore[call-overload]
