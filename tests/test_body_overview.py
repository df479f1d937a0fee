"""The overview by body (figures on known data, the page, the CSV) and accounts limited to their body (list,
detail, the admins' body edit): on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlmodel import select

from bot.db import Database
from bot.models import Body, Complaint, ComplaintEvent
from bot.staff import accounts, body_figures
from bot.staff.body_figures import BodyFigures

from .test_staff import PASSWORD, Live, add_complaint, csrf_of, live, login, references  # noqa: F401 (a fixture)

NOW = dt.datetime(2026, 6, 10, 12, tzinfo=dt.UTC)
NAMES = {"a": "Office A", "b": "Office B"}


def at(month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


async def seed(db: Database) -> None:
    """Two bodies and seven complaints whose figures are worked out by hand in the test below."""
    async with db.session() as session, session.begin():
        session.add_all([Body(id=code, name_en=name, name_ur=name) for code, name in NAMES.items()])
        await session.flush()
        rows = [
            # body, status, created, due, resolved, rating
            ("a", "closed", at(6, 1), at(6, 5), at(6, 3), 5),  # on time, 48 h
            ("a", "resolved", at(6, 1), at(6, 2), at(6, 4), 3),  # late, 72 h
            ("a", "in_review", at(6, 2), at(6, 9), None, None),  # reopened; overdue now
            ("a", "received", at(6, 3), at(6, 20), None, None),
            ("b", "closed", at(6, 1), at(6, 5), at(6, 2), None),  # on time, 24 h
            ("b", "received", at(5, 1), at(5, 20), None, None),  # filed before the range; overdue
            (None, "received", at(6, 5), None, None, None),  # unrouted
        ]
        for n, (body, status, created, due, resolved, rating) in enumerate(rows, start=1):
            complaint = Complaint(
                reference=f"CMP-2026-{n:06d}",
                channel="test",
                user_id="u",
                category="other",
                district="swat",
                description="known data",
                status=status,
                body_id=body,
                created_at=created,
                due_at=due,
                resolved_at=resolved,
                rating=rating,
            )
            session.add(complaint)
            await session.flush()
            if n == 3:
                session.add(ComplaintEvent(complaint_id=complaint.id, kind="reopened", actor="citizen"))  # type: ignore[arg-type]


async def test_figures_by_body_on_known_data(db: Database) -> None:
    await seed(db)
    async with db.session() as session:
        ranged = await body_figures.table(
            session, None, NAMES, since=dt.date(2026, 6, 1), until=dt.date(2026, 6, 9), now=NOW
        )
        everything = await body_figures.table(session, None, NAMES, now=NOW)
        only_a = await body_figures.table(session, None, NAMES, body="a", now=NOW)
        unrouted = await body_figures.table(session, None, NAMES, body="unrouted", now=NOW)
    assert ranged == [
        BodyFigures("a", "Office A", 4, 2, 50.0, 60.0, 1, 33.3, 4.0, 2),
        BodyFigures("b", "Office B", 1, 1, 100.0, 24.0, 0, 0.0, None, 0),
        BodyFigures("unrouted", "Unrouted", 1, 0, None, None, 0, None, None, 0),
        BodyFigures("all", "All bodies", 6, 3, 66.7, 48.0, 1, 25.0, 4.0, 2),
    ]
    assert [(f.body, f.received, f.overdue_now) for f in everything] == [
        ("a", 4, 1),
        ("b", 2, 1),  # the one filed in May counts without a range
        ("unrouted", 1, 0),
        ("all", 7, 2),
    ]
    assert [f.body for f in only_a] == ["a", "all"] and only_a[0] == ranged[0]
    assert [(f.body, f.received) for f in unrouted] == [("unrouted", 1), ("all", 1)]
    lines = list(csv.reader(io.StringIO(body_figures.csv_text(ranged))))
    assert lines[0] == list(body_figures.CSV_HEADER)
    assert lines[1] == ["a", "Office A", "4", "2", "50", "60", "1", "33.3", "4", "2"]
    assert lines[3] == ["unrouted", "Unrouted", "1", "0", "", "", "0", "", "", "0"]


# -- over HTTP: the page, the CSV, and accounts by body -----------------------------------------------------------


@asynccontextmanager
async def as_staff(live: Live, username: str, role: str, body: str | None) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    async with live.db.session() as session:
        await accounts.create_staff(session, username, PASSWORD, role, [], body_id=body)
        await session.commit()
    async with live.client() as client:
        assert (await login(client, username)).status_code == 303
        yield client


def read_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


async def routed_pair(live: Live) -> tuple[str, str]:  # noqa: F811
    kp = await add_complaint(live, district="peshawar", province="Khyber Pakhtunkhwa")  # e_service: KPITB
    punjab = await add_complaint(live, district="lahore", province="Punjab")  # e_service: PITB
    return kp, punjab


async def test_the_page_and_its_csv_show_the_same_table(live: Live) -> None:  # noqa: F811
    kp, punjab = await routed_pair(live)
    async with live.db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == kp))).one()
        complaint.status, complaint.resolved_at, complaint.rating = "closed", complaint.created_at, 4
    async with as_staff(live, "boss", "admin", None) as client:
        page = await client.get("/staff/overview")
        assert page.status_code == 200 and 'id="body-table"' in page.text
        rows = {r["body"]: r for r in read_csv(await client.get("/staff/overview.csv"))}
        assert set(rows) == {"pseb", "kpitb", "pitb", "all"}
        assert (rows["kpitb"]["received"], rows["kpitb"]["on_time_percent"], rows["kpitb"]["average_rating"]) == (
            "1",
            "100",
            "4",
        )
        assert (rows["pitb"]["received"], rows["pitb"]["resolved"], rows["all"]["received"]) == ("1", "0", "2")
        async with live.db.session() as session:
            names = {b.id: b.name_en for b in await session.exec(select(Body))}
            table = await body_figures.table(session, None, names)
        assert body_figures.csv_text(table).splitlines() == (
            (await client.get("/staff/overview.csv")).content.decode("utf-8-sig").splitlines()
        )
        section = page.text.split('id="body-row-kpitb"')[1].split("</tr>")[0]
        assert ">100% <" in section and '>4 <span class="muted">(1)' in section
        filtered = read_csv(await client.get("/staff/overview.csv?body=pitb&since=2000-01-01&until=2999-12-31"))
        assert [r["body"] for r in filtered] == ["pitb", "all"]
        later = read_csv(await client.get("/staff/overview.csv?since=2999-01-01"))
        assert all(r["received"] == "0" for r in later)
        bad = await client.get("/staff/overview?since=yesterday")
        assert bad.status_code == 200 and "is not a date" in bad.text


async def test_an_agent_sees_only_their_bodys_complaints(live: Live) -> None:  # noqa: F811
    kp, punjab = await routed_pair(live)
    async with as_staff(live, "gul", "agent", "kpitb") as agent:
        assert references((await agent.get("/staff/")).text) == [kp]
        assert (await agent.get(f"/staff/complaints/{kp}")).status_code == 200
        assert (await agent.get(f"/staff/complaints/{punjab}")).status_code == 404
        csrf = csrf_of((await agent.get("/staff/")).text)
        refused = await agent.post(f"/staff/complaints/{punjab}/status", data={"csrf": csrf, "status": "resolved"})
        assert refused.status_code == 404
        export = await agent.get("/staff/complaints.csv")
        assert kp in export.text and punjab not in export.text
        assert [r["body"] for r in read_csv(await agent.get("/staff/overview.csv?body=pitb"))] == ["kpitb", "all"]
    async with as_staff(live, "boss", "admin", "pseb") as admin:  # an admin of a body still sees everything
        assert sorted(references((await admin.get("/staff/")).text)) == sorted([kp, punjab])


async def test_an_admin_changes_an_accounts_body(live: Live) -> None:  # noqa: F811
    kp, punjab = await routed_pair(live)
    async with as_staff(live, "gul", "agent", "kpitb") as agent, as_staff(live, "boss", "admin", None) as admin:
        page = await admin.get("/staff/accounts")
        assert 'aria-label="Body of gul"' in page.text
        csrf = csrf_of(page.text)
        moved = await admin.post(
            "/staff/accounts/gul", data={"csrf": csrf, "action": "save", "role": "agent", "body": "pitb"}
        )
        assert moved.status_code == 303
        assert references((await agent.get("/staff/")).text) == [punjab]  # at once, no new sign-in needed
        unknown = await admin.post(
            "/staff/accounts/gul", data={"csrf": csrf, "action": "save", "role": "agent", "body": "nope"}
        )
        assert unknown.status_code == 400 and "unknown body" in unknown.text
        cleared = await admin.post(
            "/staff/accounts/gul", data={"csrf": csrf, "action": "save", "role": "agent", "body": ""}
        )
        assert cleared.status_code == 303
        assert sorted(references((await agent.get("/staff/")).text)) == sorted([kp, punjab])
    async with live.db.session() as session:
        gul = await accounts.get_staff(session, "gul")
        assert gul is not None and gul.body_id is None


async def test_staff_set_waiting_for_the_citizen_on_the_complaint_page(live: Live) -> None:  # noqa: F811
    kp, _ = await routed_pair(live)
    async with as_staff(live, "gul", "agent", "kpitb") as agent:
        page = await agent.get(f"/staff/complaints/{kp}")
        assert '<option value="waiting">Waiting for your reply</option>' in page.text
        data = {"csrf": csrf_of(page.text), "status": "waiting", "expected": "received", "reason": "Send the receipt"}
        assert (await agent.post(f"/staff/complaints/{kp}/status", data=data)).status_code == 303
        shown = await agent.get(f"/staff/complaints/{kp}")
        assert "paused: waiting for the citizen" in shown.text
    async with live.db.session() as session:
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == kp))).one()
    assert complaint.status == "waiting" and complaint.paused_at is not None
