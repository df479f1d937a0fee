"""The Routing and Overdue pages, and due times on the complaints list and detail, over real HTTP on both
databases (the `live` app of test_staff.py)."""

from __future__ import annotations

import datetime as dt

from .test_staff import Live, add_complaint, csrf_of, events_of, live, references, signed_in

__all__ = ["live"]  # the fixture, shared with test_staff.py

NOW = dt.datetime.now(dt.UTC)


async def test_admin_adds_a_body_and_a_rule_and_the_unrouted_queue(live: Live) -> None:
    lost = await add_complaint(live, category="programme", district="karachi", province="Sindh")
    async with signed_in(live, "amna", "admin") as client:
        page = await client.get("/staff/routing")
        assert page.status_code == 200
        assert "Pakistan Software Export Board (PSEB)" in page.text  # the defaults, copied in on start
        assert lost in page.text  # waiting in the Unrouted queue
        csrf = csrf_of(page.text)
        body = {"csrf": csrf, "action": "add_body", "id": "sindh_itb", "name_en": "Sindh IT Board"}
        added = await client.post("/staff/routing", data={**body, "name_ur": "سندھ آئی ٹی بورڈ", "province": "Sindh"})
        assert added.status_code == 303
        rule = {"csrf": csrf, "action": "add_rule", "category": "programme", "province": "Sindh", "body": "sindh_itb"}
        assert (await client.post("/staff/routing", data=rule)).status_code == 303
        again = await client.post("/staff/routing", data=rule)
        assert again.status_code == 400 and "exists already" in again.text
        routed = await add_complaint(live, category="programme", district="karachi", province="Sindh")
        listing = await client.get("/staff/?body=sindh_itb")
        assert references(listing.text) == [routed]
        assert "Sindh IT Board" in listing.text and "due-on_time" in listing.text
        assert references((await client.get("/staff/?body=unrouted")).text) == [lost]
        refused = await client.post("/staff/routing", data={"csrf": csrf, "action": "delete_body", "id": "sindh_itb"})
        assert refused.status_code == 400
        assert (
            "sindh_itb has 1 complaint: re-route them first; a body with complaints cannot be deleted" in refused.text
        )
        detail = await client.get(f"/staff/complaints/{routed}")
        assert 'id="route-form"' in detail.text and 'id="due"' in detail.text
        no_reason = await client.post(f"/staff/complaints/{lost}/route", data={"csrf": csrf, "body": "sindh_itb"})
        assert no_reason.status_code == 400 and "needs a reason" in no_reason.text
        moved = await client.post(
            f"/staff/complaints/{lost}/route", data={"csrf": csrf, "body": "sindh_itb", "reason": "Sindh's programme"}
        )
        assert moved.status_code == 303
    assert (await events_of(live, lost))[-1].note == "unrouted → sindh_itb: Sindh's programme"


async def test_due_filters_sort_and_the_overdue_page(live: Live) -> None:
    kp = "Khyber Pakhtunkhwa"
    late = await add_complaint(live, description="filed long ago", now=NOW - dt.timedelta(days=60), province=kp)
    soon = await add_complaint(live, description="due in a few days", now=NOW - dt.timedelta(days=26), province=kp)
    fresh = await add_complaint(live, description="just filed", now=NOW, province=kp)
    async with signed_in(live, "bilal", "viewer") as client:
        assert references((await client.get("/staff/?due=overdue")).text) == [late]
        assert references((await client.get("/staff/?sort=due")).text) == [late, soon, fresh]
        assert "Ignored: unknown due state" in (await client.get("/staff/?due=later")).text
        overdue = await client.get("/staff/overdue")
        assert overdue.status_code == 200 and references(overdue.text) == [late]
        assert "Khyber Pakhtunkhwa Information Technology Board (KPITB)" in overdue.text  # e_service in Peshawar
        assert (await client.get("/staff/routing")).status_code == 403  # admins only


async def test_admin_adds_a_supervisor_of_a_body(live: Live) -> None:
    async with signed_in(live, "amna", "admin") as client:
        page = await client.get("/staff/accounts")
        csrf = csrf_of(page.text)
        form = {
            "csrf": csrf,
            "username": "sana",
            "role": "supervisor",
            "body": "kpitb",
            "password": "a long password 1",
        }
        assert (await client.post("/staff/accounts", data=form)).status_code == 303
        assert (
            "body: Khyber Pakhtunkhwa Information Technology Board (KPITB)"
            in (await client.get("/staff/accounts")).text
        )
        refused = await client.post("/staff/accounts", data={**form, "username": "zed", "body": "nope"})
        assert refused.status_code == 400 and "unknown body" in refused.text
