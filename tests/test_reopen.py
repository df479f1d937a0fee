"""Reopening, by staff (a resolved, rejected or closed complaint back in review) and by the citizen: on SQLite and
PostgreSQL. Staff must say why; either way it is a "reopened" event (its body's alert, the overview's reopen rate),
the old resolution's reason and rating go, and the complaint gets a new due time from the reopening with no
escalation."""

from __future__ import annotations

import datetime as dt

from sqlmodel import select

from bot.domain.alerts import EVENT_KINDS
from bot.domain.complaints import ComplaintError, change_status
from bot.models import Complaint
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
