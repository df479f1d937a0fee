"""Staff alerts on the dashboard, over real HTTP on both databases (the `live` app of test_staff.py): the count in
the navigation bar, the Alerts page (opening it marks them read), and an account's alert address."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlmodel import select

from bot.core import core_on
from bot.domain.alerts import alert_round
from bot.models import StaffUser
from bot.settings import Settings
from bot.staff import accounts
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher

from .test_staff import PASSWORD, Live, add_complaint, csrf_of, live, login, sahulat, signed_in

__all__ = ["live"]  # the fixture, shared with test_staff.py


def test_staff_add_takes_an_alert_address(database_url: str, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}" if database_url.startswith("sqlite") else database_url
    assert sahulat(url, "staff", "bootstrap")[0] == 0  # migrates a new SQLite file
    add = ("staff", "add", "sana", "--role", "supervisor", "--email")
    code, _, err = sahulat(url, *add, "sana at kpitb", stdin=PASSWORD + "\n")
    assert code == 1 and "'sana at kpitb' is not an e-mail address" in err
    code, out, _ = sahulat(url, *add, "sana@kpitb.gov.pk", stdin=PASSWORD + "\n")
    assert (code, out) == (0, "added sana (supervisor, alerts to sana@kpitb.gov.pk)\n")
    code, out, _ = sahulat(url, "staff", "list", "--json")
    emails = {row["username"]: row["email"] for row in map(json.loads, out.splitlines())}
    assert emails == {"admin": None, "sana": "sana@kpitb.gov.pk"}


def nav_alerts(html: str) -> str:
    found = re.search(r'<a href="/staff/alerts" id="nav-alerts"[^>]*>(.*?)</a>', html)
    assert found, "no Alerts link in the navigation bar"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


async def test_staff_see_their_alerts_and_opening_them_marks_them_read(
    live: Live, settings: Settings, knowledge: tuple[KnowledgeBase, Matcher]
) -> None:
    async with live.db.session() as session:
        await accounts.create_staff(session, "ali", PASSWORD, "agent", body_id="kpitb")
        await session.commit()
    reference = await add_complaint(live, category="programme", district="mardan", province="Khyber Pakhtunkhwa")
    worker = core_on(settings, live.db, *knowledge)  # what the worker's round does
    assert await alert_round(worker) == 1
    async with live.client() as client:
        assert (await login(client, "ali")).status_code == 303
        listing = await client.get("/staff/")
        assert nav_alerts(listing.text) == "Alerts 1"
        page = await client.get("/staff/alerts")
        assert page.status_code == 200
        assert f'href="/staff/complaints/{reference}"' in page.text
        assert f"New complaint {reference} for Khyber Pakhtunkhwa Information Technology Board (KPITB)" in page.text
        assert 'id="alerts-new">1 new' in page.text and 'class="unread"' in page.text
        assert "also e-mailed" not in page.text  # no SMTP_HOST here
        again = await client.get("/staff/alerts")
        assert nav_alerts(again.text) == "Alerts" and 'class="unread"' not in again.text
        assert reference in again.text  # still listed, as read
    async with signed_in(live, "bilal", "viewer") as client:  # alerts are per account: a viewer of no body has none
        page = await client.get("/staff/alerts")
        assert "No alerts yet." in page.text and nav_alerts(page.text) == "Alerts"


async def test_an_admin_gives_an_account_an_alert_address(live: Live) -> None:
    async with signed_in(live, "amna", "admin") as client:
        csrf = csrf_of((await client.get("/staff/accounts")).text)
        form = {"csrf": csrf, "username": "sana", "role": "supervisor", "body": "kpitb", "password": PASSWORD}
        bad = await client.post("/staff/accounts", data={**form, "email": "not an address"})
        assert bad.status_code == 400 and "is not an e-mail address" in bad.text
        added = await client.post("/staff/accounts", data={**form, "email": "sana@kpitb.gov.pk"})
        assert added.status_code == 303
        assert "alerts: sana@kpitb.gov.pk" in (await client.get("/staff/accounts")).text
        save = {"csrf": csrf, "action": "save", "role": "supervisor", "email": "sana.k@kpitb.gov.pk"}
        assert (await client.post("/staff/accounts/sana", data=save)).status_code == 303
        wrong = await client.post("/staff/accounts/sana", data={**save, "email": "sana@"})
        assert wrong.status_code == 400 and "is not an e-mail address" in wrong.text
    async with live.db.session() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.username == "sana"))).one()
        assert user.email == "sana.k@kpitb.gov.pk" and user.body_id == "kpitb"
