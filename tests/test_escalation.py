"""Escalation of overdue complaints: to the body's supervisors at the due time, to the admins a second period
later, each step once in the history, however many workers run; on both databases, with a controllable clock."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlmodel import col, select

from bot.db import Database
from bot.domain import routing
from bot.domain.complaints import Draft, change_status, file_complaint
from bot.domain.deadlines import PKT
from bot.domain.escalation import escalate_due, escalate_round
from bot.domain.routing_data import RoutingData, load_routing
from bot.models import Complaint, ComplaintEvent
from bot.settings import Settings
from bot.staff import accounts
from knowledge.loader import KnowledgeBase

FILED = dt.datetime(2026, 8, 10, 10, tzinfo=PKT)  # a Monday; due at the end of 9 September (20 working days)
DUE = dt.datetime(2026, 9, 10, tzinfo=PKT)


@pytest.fixture(scope="module")
def data(settings: Settings) -> RoutingData:
    return load_routing(settings.knowledge_dir)


async def _setup(db: Database, data: RoutingData) -> tuple[int, int]:
    async with db.session() as session, session.begin():
        await routing.seed_defaults(session, data)
        await accounts.create_staff(session, "sana", "a long password 1", "supervisor", body_id="kpitb")
        await accounts.create_staff(session, "omar", "a long password 1", "supervisor", body_id="pseb")
        await accounts.create_staff(session, "root", "a long password 1", "admin")
        kp = Draft(
            channel="t",
            user_id="u",
            category="programme",
            district="mardan",
            description="a",
            province="Khyber Pakhtunkhwa",
        )
        lost = Draft(channel="t", user_id="v", category="other", district="karachi", description="b", province="Sindh")
        routed = await file_complaint(session, kp, FILED, data)
        unrouted = await file_complaint(session, lost, FILED, data)
        assert routed.id is not None and unrouted.id is not None
        return routed.id, unrouted.id


async def _steps(db: Database, complaint_id: int) -> list[str]:
    async with db.session() as session:
        query = select(ComplaintEvent).where(
            ComplaintEvent.complaint_id == complaint_id, ComplaintEvent.kind == "escalated"
        )
        return [e.note or "" for e in await session.exec(query.order_by(col(ComplaintEvent.id)))]


async def test_escalation_steps(db: Database, data: RoutingData) -> None:
    routed, unrouted = await _setup(db, data)
    assert await escalate_round(db, data, DUE - dt.timedelta(seconds=1)) == 0  # not yet due
    assert await escalate_round(db, data, DUE) == 2
    assert await _steps(db, routed) == ["overdue since 2026-09-09: escalated to kpitb's supervisors (sana)"]
    assert await _steps(db, unrouted) == ["overdue since 2026-09-09 and unrouted: escalated to the admins (root)"]
    assert await escalate_round(db, data, DUE + dt.timedelta(days=1)) == 0  # once per step
    # Five working days after the 9th: 10, 11, 14, 15, 16 September; the admins hear of it on the 17th.
    assert await escalate_round(db, data, dt.datetime(2026, 9, 16, 23, tzinfo=PKT)) == 0
    assert await escalate_round(db, data, dt.datetime(2026, 9, 17, tzinfo=PKT)) == 1
    assert (await _steps(db, routed))[-1] == (
        "still open 5 working days after its due time: escalated to the admins (root)"
    )
    async with db.session() as session:
        found = await session.get(Complaint, routed)
        assert found is not None and found.escalation_level == 2


async def test_closed_complaints_are_not_escalated(db: Database, data: RoutingData, kb: KnowledgeBase) -> None:
    routed, unrouted = await _setup(db, data)
    async with db.session() as session, session.begin():
        for ident in (routed, unrouted):
            complaint = await session.get(Complaint, ident)
            assert complaint is not None
            await change_status(session, kb, complaint, "resolved", actor="staff:x", now=FILED)
    assert await escalate_round(db, data, DUE + dt.timedelta(days=30)) == 0


async def test_two_workers_escalate_each_step_once(db: Database, data: RoutingData, database_url: str) -> None:
    routed, unrouted = await _setup(db, data)
    other = Database(database_url)
    try:

        async def one(database: Database) -> int:
            try:
                return await escalate_round(database, data, DUE)
            except Exception:  # SQLite: the second writer may find the database locked and retry next round
                return 0

        results = await asyncio.gather(one(db), one(other))
    finally:
        await other.dispose()
    assert sum(results) == 2
    assert len(await _steps(db, routed)) == 1 and len(await _steps(db, unrouted)) == 1


async def test_escalate_due_in_the_callers_transaction(db: Database, data: RoutingData) -> None:
    routed, _ = await _setup(db, data)
    async with db.session() as session:
        async with session.begin():
            assert await escalate_due(session, data, DUE) == 2
            await session.rollback()
    assert await _steps(db, routed) == []  # rolled back with the caller's transaction
