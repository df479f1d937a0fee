"""The inbox by category, on SQLite and PostgreSQL: an agent limited to some categories sees theirs (and new
conversations) by default, with matching counts in the navigation bar; anyone can narrow it to one category or to
conversations about no complaint. The live view's pulse moves when a conversation does."""

from __future__ import annotations

import datetime as dt
import re

from bot.domain.conversation import citizen_said
from bot.models import Complaint, Handover
from bot.staff import accounts

from . import test_staff
from .test_staff import PASSWORD, Live, add_complaint, login, signed_in
from .test_staff_inbox import waiting

live = test_staff.live


def about(html: str) -> list[str]:
    """What the inbox rows are about, in order."""
    return re.findall(r'<td data-label="About"><a [^>]*>([^<]*)</a>', html)


def waiting_count(html: str) -> str:
    found = re.search(r'<span class="count" title="waiting for staff">(\d+)</span>', html)
    assert found is not None
    return found.group(1)


async def test_an_agent_sees_their_categories_by_default_and_can_filter(live: Live) -> None:
    service = await add_complaint(live, category="e_service", user_id="1")
    other = await add_complaint(live, category="other", user_id="2")
    await waiting(live, service, "1", dt.timedelta(hours=3))
    await waiting(live, other, "2", dt.timedelta(hours=2))
    await waiting(live, None, "3", dt.timedelta(hours=1))
    async with signed_in(live, "sana", "agent", ("e_service",)) as client:
        page = await client.get("/staff/inbox")
        assert about(page.text) == [service, "Something new"]
        assert waiting_count(page.text) == "2"
        assert "Your categories" in page.text and '<option value="other"' not in page.text
        only_new = await client.get("/staff/inbox?category=new")
        assert about(only_new.text) == ["Something new"]
        outside = await client.get("/staff/inbox?category=other")  # not theirs: their default view instead
        assert about(outside.text) == [service, "Something new"]
    async with signed_in(live, "root", "admin") as client:
        page = await client.get("/staff/inbox")
        assert about(page.text) == [service, other, "Something new"] and waiting_count(page.text) == "3"
        assert "Office hours: mon-fri 09:00-17:00 (Pakistan time), except public holidays." in page.text
        assert ("Open now." in page.text) != ("Closed now: citizens asking for a person" in page.text)
        one = await client.get("/staff/inbox?category=other")
        assert about(one.text) == [other]
        assert '<option value="other" selected>' in one.text


async def test_the_pulse_moves_when_the_conversation_does(live: Live) -> None:
    reference = await add_complaint(live)
    ident = await waiting(live, reference, "4242", dt.timedelta(minutes=3))
    new = await waiting(live, None, "777", dt.timedelta(minutes=1))
    async with signed_in(live, "amna", "agent") as client:
        first = (await client.get(f"/staff/complaints/{reference}/pulse")).json()
        assert first["inbox"] == [2, 0]
        plain = (await client.get(f"/staff/inbox/{new}/pulse")).json()
        async with live.db.session() as session, session.begin():
            for handover_id in (ident, new):
                handover = await session.get(Handover, handover_id)
                assert handover is not None
                complaint = await session.get(Complaint, handover.complaint_id) if handover.complaint_id else None
                await citizen_said(session, handover, complaint, "still waiting", None, dt.datetime.now(dt.UTC))
        second = (await client.get(f"/staff/complaints/{reference}/pulse")).json()
        assert second["mark"] != first["mark"]
        assert (await client.get(f"/staff/inbox/{new}/pulse")).json()["mark"] != plain["mark"]
        assert (await client.get("/staff/inbox/pulse")).json() == {"inbox": [2, 0], "mark": None}
        assert (await client.get("/staff/complaints/CMP-2026-999999/pulse")).status_code == 404


async def test_an_agent_of_a_body_sees_and_counts_only_their_body_conversations(live: Live) -> None:
    kp = await add_complaint(live, district="peshawar", province="Khyber Pakhtunkhwa", user_id="1")  # KPITB
    punjab = await add_complaint(live, district="lahore", province="Punjab", user_id="2")  # PITB
    await waiting(live, kp, "1", dt.timedelta(hours=3))
    await waiting(live, punjab, "2", dt.timedelta(hours=2))
    await waiting(live, None, "3", dt.timedelta(hours=1))
    async with live.db.session() as session:
        await accounts.create_staff(session, "gul", PASSWORD, "agent", [], body_id="kpitb")
        await accounts.create_staff(session, "boss", PASSWORD, "admin", [], body_id="kpitb")
        await session.commit()
    async with live.client() as client:
        assert (await login(client, "gul")).status_code == 303
        page = await client.get("/staff/inbox")
        assert about(page.text) == [kp, "Something new"]  # not PITB's conversation
        assert waiting_count(page.text) == "2"
        assert about((await client.get("/staff/inbox?category=e_service")).text) == [kp]
    async with live.client() as client:
        assert (await login(client, "boss")).status_code == 303  # admins see every body's
        page = await client.get("/staff/inbox")
        assert about(page.text) == [kp, punjab, "Something new"] and waiting_count(page.text) == "3"
