"""Reopening, by staff (a resolved, rejected or closed complaint back in review) and by the citizen: on SQLite and
PostgreSQL. Staff must say why; either way it is a "reopened" event (its body's alert, the overview's reopen rate),
the old resolution's reason and rating go, and the complaint gets a new due time from the reopening with no
escalation."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from bot.core import Core
from bot.domain.alerts import EVENT_KINDS
from bot.domain.complaints import ComplaintError, Draft, change_status, file_complaint, reopen
from bot.domain.deadlines import PKT, add_working_days
from bot.domain.escalation import escalate_due
from bot.domain.routing_data import load_routing
from bot.models import Complaint, ComplaintEvent
from bot.storage.alerts import unalerted_events

from .test_staff import Live, add_complaint, csrf_of, events_of, live, signed_in  # noqa: F401 (a fixture)


async def resolved_and_rated(live: Live, reference: str) -> None:  # noqa: F811
    async with live.db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await change_status(session, live.kb, complaint, "resolved", actor="staff:amna", reason="Fixed the mast")
        complaint.rating = 2


async def stored(live: Live, reference: str) -> Complaint:  # noqa: F811
    async with live.db.session() as session:
        return (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()


async def test_a_staff_reopen_needs_a_reason_and_is_a_reopening(live: Live) -> None:  # noqa: F811
    reference = await add_complaint(live, province="Khyber Pakhtunkhwa")  # routed to KPITB
    await resolved_and_rated(live, reference)
    async with signed_in(live, "amna", "agent") as client:
        page = await client.get(f"/staff/complaints/{reference}")
        data = {"csrf": csrf_of(page.text), "status": "in_review", "expected": "resolved", "reason": "  "}
        refused = await client.post(f"/staff/complaints/{reference}/status", data=data)
        assert refused.status_code == 400 and "Not changed: reopening needs a reason." in refused.text
        assert (await stored(live, reference)).status == "resolved"
        data["reason"] = "The citizen called: still no signal"
        assert (await client.post(f"/staff/complaints/{reference}/status", data=data)).status_code == 303
    complaint = await stored(live, reference)
    assert (complaint.status, complaint.status_reason, complaint.rating, complaint.resolved_at) == (
        "in_review",
        None,
        None,
        None,
    )
    [event] = [e for e in await events_of(live, reference) if e.kind == "reopened"]
    assert (event.from_status, event.to_status, event.actor) == ("resolved", "in_review", "staff:amna")
    assert event.note == "The citizen called: still no signal"
    async with live.db.session() as session:  # what the staff alerts pick up (bot/domain/alerts.py)
        found = await unalerted_events(session, EVENT_KINDS, event.created_at - dt.timedelta(minutes=1), 50)
    assert [(e.kind, c.reference) for e, c in found if e.kind == "reopened"] == [("reopened", reference)]
    async with signed_in(live, "boss", "admin") as client:
        page = await client.get("/staff/overview.csv")
        rows = {r.split(",")[0]: r for r in page.content.decode("utf-8-sig").splitlines()}
        header = rows["body"].split(",")
        assert rows["kpitb"].split(",")[header.index("reopen_rate_percent")] == "100"


async def test_rejected_and_closed_complaints_reopen_the_same_way(live: Live) -> None:  # noqa: F811
    reference = await add_complaint(live)
    async with live.db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await change_status(session, live.kb, complaint, "rejected", actor="staff:amna", reason="Not ours")
        try:
            await change_status(session, live.kb, complaint, "in_review", actor="staff:amna")
        except ComplaintError as exc:
            assert str(exc) == "reopening needs a reason"
        else:
            raise AssertionError("reopened without a reason")
        await change_status(session, live.kb, complaint, "in_review", actor="staff:amna", reason="It is ours")
        await change_status(session, live.kb, complaint, "resolved", actor="staff:amna", reason="Done")
        await change_status(session, live.kb, complaint, "closed", actor="staff:amna")
        await change_status(session, live.kb, complaint, "in_review", actor="staff:amna", reason="Came back")
    reopened = [(e.from_status, e.note) for e in await events_of(live, reference) if e.kind == "reopened"]
    assert reopened == [("rejected", "It is ours"), ("closed", "Came back")]


FILED = dt.datetime(2026, 3, 2, 9, tzinfo=PKT)
REOPENED = dt.datetime(2026, 4, 21, 10, tzinfo=PKT)  # long after the first due time


async def overdue_escalated_and_resolved(core: Core) -> Complaint:
    """A complaint filed in March, escalated to the admins, resolved the day before REOPENED."""
    async with core.db.session() as session, session.begin():
        draft = Draft(channel="test", user_id="citizen", category="other", district="swat", description="no signal")
        complaint = await file_complaint(session, draft, now=FILED)
        complaint.escalation_level = 2
        await change_status(
            session,
            core.kb,
            complaint,
            "resolved",
            actor="staff:a",
            reason="Fixed",
            now=REOPENED - dt.timedelta(days=1),
        )
        return complaint


async def deadline_lines(core: Core, complaint_id: int) -> list[ComplaintEvent]:
    async with core.db.session() as session:
        query = select(ComplaintEvent).where(
            ComplaintEvent.complaint_id == complaint_id, ComplaintEvent.kind == "deadline_reset"
        )
        return list(await session.exec(query))


async def test_reopening_starts_a_new_deadline_with_no_escalation(core: Core) -> None:
    routing = load_routing(core.settings.knowledge_dir)
    expected = add_working_days(REOPENED, routing.deadlines.working_days("other"), routing.holidays)
    for by_staff in (False, True):
        complaint = await overdue_escalated_and_resolved(core)
        first_due = complaint.due_at
        assert first_due is not None and first_due < REOPENED
        async with core.db.session() as session, session.begin():
            stored = await session.get(Complaint, complaint.id)
            assert stored is not None
            if by_staff:
                await change_status(
                    session, core.kb, stored, "in_review", actor="staff:a", reason="Still broken", now=REOPENED
                )
            else:
                await reopen(session, stored, REOPENED, reason="Still broken")
        async with core.db.session() as session:
            again = await session.get(Complaint, complaint.id)
            assert again is not None
            assert (again.status, again.due_at, again.escalation_level) == ("in_review", expected, 0)
            assert await escalate_due(session, routing, now=REOPENED) == 0  # not overdue, so not escalated again
        [line] = await deadline_lines(core, complaint.id)  # type: ignore[arg-type]
        assert line.actor == ("staff:a" if by_staff else "citizen") and line.created_at == REOPENED
        assert line.note == (
            f"reopened: due {(expected - dt.timedelta(seconds=1)).astimezone(PKT):%Y-%m-%d} "
            f"(was {(first_due - dt.timedelta(seconds=1)).astimezone(PKT):%Y-%m-%d}); escalation level 2 cleared"
        )
