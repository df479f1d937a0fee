"""The staff dashboard over real HTTP (uvicorn in the test's event loop), on SQLite and PostgreSQL.

Covers: every route refuses anonymous users and wrong roles; forged CSRF is refused; user text is escaped;
the throttle stops a password-guessing loop; filters, search, pages; status, notes and assignment land in the
event log (and notify the citizen); CSV export by role; charts; the unanswered queue; accounts; the CLI.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import os
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlmodel import col, select

from bot.app import create_app
from bot.core import build_core
from bot.db import Database
from bot.domain.complaints import Draft, change_status, file_complaint
from bot.models import Complaint, ComplaintEvent, DeadLetter, Notification, StaffUser, UnansweredQuestion, utcnow
from bot.settings import Settings
from bot.staff import accounts, throttle, unanswered
from bot.staff.queries import LOCAL_TZ, like_pattern
from bot.staff.unanswered import group_questions
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher

from .conftest import TEST_HASHER
from .conftest import sahulat as sahulat_in_process
from .fake_telegram import Server

PASSWORD = "correct horse battery"
XSS = "<script>alert('xss')</script>"


@dataclass
class Live:
    """A running app: its base URL, a database handle for seeding and checking, and the knowledge base."""

    url: str
    db: Database
    kb: KnowledgeBase

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, follow_redirects=False, timeout=30)


@pytest.fixture
async def live(database_url: str, knowledge: tuple[KnowledgeBase, Matcher]) -> AsyncIterator[Live]:
    """The real app (bot.app.create_app) under uvicorn on a free 127.0.0.1 port, in this test's event loop."""
    settings = Settings(
        database_url=database_url,
        secret_key="test-secret-key-for-the-staff-dashboard",
        outbox_in_web=False,  # notifications stay queued, so tests can see them
        staff_refresh_seconds=0.5,  # open pages poll often, so live updates show quickly in browser tests
        public_url=None,
        telegram_bot_token=None,
        twilio_account_sid=None,
    )
    core = build_core(settings, database_url=database_url, knowledge=knowledge)
    server = Server(uvicorn.Config(create_app(settings, core=core), log_level="warning", lifespan="on"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    db = Database(database_url)
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        yield Live(url=f"http://127.0.0.1:{port}", db=db, kb=knowledge[0])
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()
        await db.dispose()
        await core.close()


async def add_staff(live: Live, username: str, role: str, categories: tuple[str, ...] = ()) -> None:
    async with live.db.session() as session:
        await accounts.create_staff(session, username, PASSWORD, role, categories)
        await session.commit()


async def add_complaint(
    live: Live, description: str = "The e-stamping centre was closed all week", **kw: object
) -> str:
    values: dict[str, object] = {
        "channel": "telegram",
        "user_id": "4242",
        "category": "e_service",
        "district": "peshawar",
        "description": description,
        "display_name": "Ayesha Khan",
    }
    values.update(kw)
    now = values.pop("now", None)
    async with live.db.session() as session:
        complaint = await file_complaint(session, Draft(**values), now=now)  # type: ignore[arg-type]
        await session.commit()
        return complaint.reference


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/staff/login")
    assert page.status_code == 200
    return await client.post(
        "/staff/login", data={"csrf": csrf_of(page.text), "username": username, "password": password}
    )


@asynccontextmanager
async def signed_in(
    live: Live, username: str, role: str, categories: tuple[str, ...] = ()
) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in as a new account with this role."""
    await add_staff(live, username, role, categories)
    async with live.client() as client:
        response = await login(client, username)
        assert response.status_code == 303, response.text
        yield client


async def token(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/staff/")).text)


def references(html: str) -> list[str]:
    return re.findall(r'href="/staff/complaints/(CMP-\d{4}-\d{6})"', html)


async def events_of(live: Live, reference: str) -> list[ComplaintEvent]:
    async with live.db.session() as session:
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        query = select(ComplaintEvent).where(ComplaintEvent.complaint_id == complaint.id)
        return list(await session.exec(query.order_by(col(ComplaintEvent.id))))


async def notifications_of(live: Live, reference: str) -> list[Notification]:
    async with live.db.session() as session:
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        query = select(Notification).where(Notification.complaint_id == complaint.id)
        return list(await session.exec(query.order_by(col(Notification.id))))


GET_ROUTES = {  # path -> the least role that may open it
    "/staff/": "viewer",
    "/staff/?status=received&q=x": "viewer",
    "/staff/complaints/{ref}": "viewer",
    "/staff/overview": "viewer",
    "/staff/unanswered": "viewer",
    "/staff/inbox": "viewer",
    "/staff/complaints.csv": "agent",
    "/staff/accounts": "admin",
    "/staff/deadletters": "admin",
    "/staff/overdue": "viewer",
    "/staff/alerts": "viewer",
    "/staff/routing": "admin",
}
POST_ROUTES = {
    "/staff/complaints/{ref}/status": ("agent", {"status": "in_review"}),
    "/staff/complaints/{ref}/note": ("agent", {"note": "looking into it", "visibility": "internal"}),
    "/staff/complaints/{ref}/assign": ("agent", {"assignee": ""}),
    "/staff/complaints/{ref}/reply": ("agent", {"text": "We are looking into it"}),
    "/staff/unanswered/handled": ("agent", {"id": "1"}),
    "/staff/accounts": ("admin", {"username": "newbie", "role": "viewer", "password": PASSWORD}),
    "/staff/accounts/someone": ("admin", {"action": "save", "role": "viewer"}),
    "/staff/deadletters/1": ("admin", {"action": "dismiss"}),
    "/staff/logout": ("viewer", {}),
}


# -- access ------------------------------------------------------------------------------------------


async def test_every_route_refuses_anonymous_users(live: Live) -> None:
    ref = await add_complaint(live)
    async with live.client() as client:
        for path in GET_ROUTES:
            response = await client.get(path.format(ref=ref))
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/staff/login?next=%2Fstaff%2F"), path
            assert "set-cookie" not in response.headers
        login_page = await client.get("/staff/login")
        anonymous_token = csrf_of(login_page.text)  # a valid token of an anonymous session is not enough
        for path, (_, data) in POST_ROUTES.items():
            for csrf in ("", anonymous_token):
                response = await client.post(path.format(ref=ref), data={**data, "csrf": csrf})
                assert response.status_code == 403, path
        assert (await client.get("/staff/static/staff.css")).status_code == 200  # the login page needs it
        assert (await client.get("/staff/nothing-here")).status_code in (303, 404)
    assert len(await events_of(live, ref)) == 1  # only "filed"


@pytest.mark.parametrize("role", ["viewer", "agent"])
async def test_each_action_needs_its_role(live: Live, role: str) -> None:
    ref = await add_complaint(live)
    await add_staff(live, "someone", "viewer")
    rank = accounts.ROLE_RANK
    async with signed_in(live, f"a-{role}", role) as client:
        csrf = await token(client)
        for path, least in GET_ROUTES.items():
            response = await client.get(path.format(ref=ref))
            expected = 200 if rank[role] >= rank[least] else 403
            assert response.status_code == expected, (role, path)
        for path, (least, data) in POST_ROUTES.items():
            if path == "/staff/logout" or rank[role] >= rank[least]:
                continue
            response = await client.post(path.format(ref=ref), data={**data, "csrf": csrf})
            assert response.status_code == 403, (role, path)
            assert f"needs the {least} role" in response.text
    async with live.db.session() as session:
        assert (await accounts.get_staff(session, "newbie")) is None
    assert [e.kind for e in await events_of(live, ref)] == ["filed"]


async def test_admin_reaches_everything(live: Live) -> None:
    ref = await add_complaint(live)
    async with signed_in(live, "boss", "admin") as client:
        for path in GET_ROUTES:
            assert (await client.get(path.format(ref=ref))).status_code == 200, path


async def test_forged_or_missing_csrf_is_refused(live: Live) -> None:
    ref = await add_complaint(live)
    async with signed_in(live, "agent", "agent") as client, signed_in(live, "other", "agent") as other:
        own = await token(client)
        foreign = await token(other)
        assert own != foreign  # per session
        for csrf in (None, "", "0" * 64, foreign, own[:-1] + ("0" if own[-1] != "0" else "1")):
            data = {"status": "resolved"} | ({"csrf": csrf} if csrf is not None else {})
            response = await client.post(f"/staff/complaints/{ref}/status", data=data)
            assert response.status_code == 403
        # the token in a query string or header does not count either
        response = await client.post(f"/staff/complaints/{ref}/status?csrf={own}", data={"status": "resolved"})
        assert response.status_code == 403
        assert len(await events_of(live, ref)) == 1
        response = await client.post(f"/staff/complaints/{ref}/status", data={"status": "resolved", "csrf": own})
        assert response.status_code == 303
    assert [e.kind for e in await events_of(live, ref)] == ["filed", "status"]


async def test_login_form_needs_its_csrf_token(live: Live) -> None:
    await add_staff(live, "agent", "agent")
    async with live.client() as client:
        response = await client.post("/staff/login", data={"username": "agent", "password": PASSWORD})
        assert response.status_code == 403
        await client.get("/staff/login")
        response = await client.post("/staff/login", data={"username": "agent", "password": PASSWORD, "csrf": "x"})
        assert response.status_code == 403


async def test_session_cookie_flags_and_sign_out(live: Live) -> None:
    await add_staff(live, "agent", "agent")
    async with live.client() as client:
        response = await login(client, "agent")
        assert response.status_code == 303 and response.headers["location"] == "/staff/"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/staff;" in cookie
        assert "Secure" not in cookie  # PUBLIC_URL is not https here
        stolen = client.cookies["sahulat_staff"]
        page = await client.get("/staff/")
        assert page.status_code == 200 and "agent" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        out = await client.post("/staff/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/staff/login"
        assert (await client.get("/staff/")).status_code == 303
    async with live.client() as thief:  # a copy of the cookie taken before signing out is dead too
        thief.cookies.set("sahulat_staff", stolen, domain="127.0.0.1", path="/staff")
        assert (await thief.get("/staff/")).status_code == 303


def test_secure_cookie_when_public_url_is_https() -> None:
    from bot.staff.web import StaffWeb

    assert StaffWeb(Settings(public_url="https://sahulat.example.pk")).sessions.secure
    assert not StaffWeb(Settings(public_url=None)).sessions.secure


async def test_disabling_an_account_ends_its_sessions(live: Live) -> None:
    async with signed_in(live, "agent", "agent") as client:
        assert (await client.get("/staff/")).status_code == 200
        await add_staff(live, "boss", "admin")
        async with live.db.session() as session:
            user = await accounts.get_staff(session, "agent")
            assert user is not None
            await accounts.set_active(session, user, False)
            await session.commit()
        assert (await client.get("/staff/")).status_code == 303
        assert (await login(client, "agent")).status_code == 400  # a disabled account cannot sign in


async def test_next_parameter_cannot_leave_the_dashboard(live: Live) -> None:
    await add_staff(live, "agent", "agent")
    for target, expected in [
        ("/staff/overview", "/staff/overview"),
        ("https://evil.example/", "/staff/"),
        ("//evil.example/staff/", "/staff/"),
        ("/staff//evil.example", "/staff/"),
    ]:
        async with live.client() as client:
            page = await client.get("/staff/login")
            data = {"csrf": csrf_of(page.text), "username": "agent", "password": PASSWORD, "next": target}
            response = await client.post("/staff/login", data=data)
            assert response.headers["location"] == expected


# -- throttle ------------------------------------------------------------------------------------------


async def test_throttle_stops_a_password_guessing_loop(live: Live) -> None:
    await add_staff(live, "agent", "agent")
    async with live.client() as client:
        csrf = csrf_of((await client.get("/staff/login")).text)
        codes = []
        for guess in range(12):
            data = {"csrf": csrf, "username": "agent", "password": f"guess-{guess:04d}"}
            codes.append((await client.post("/staff/login", data=data)).status_code)
        allowed = throttle.MAX_FAILURES_PER_ACCOUNT_AND_CLIENT
        assert codes == [400] * allowed + [429] * (12 - allowed)
        refused = await client.post("/staff/login", data={"csrf": csrf, "username": "Agent", "password": PASSWORD})
        assert refused.status_code == 429  # even the right password is not checked now
        assert "Too many failed sign-ins" in refused.text and refused.headers["retry-after"] == "900"
    async with live.db.session() as session:
        user = (await session.exec(select(StaffUser))).one()
        assert user.last_login_at is None  # never signed in


async def test_throttle_per_client_across_usernames(live: Live) -> None:
    await add_staff(live, "agent", "agent")
    async with live.client() as client:
        csrf = csrf_of((await client.get("/staff/login")).text)
        for i in range(throttle.MAX_FAILURES_PER_CLIENT):
            data = {"csrf": csrf, "username": f"user{i}", "password": "wrong password"}
            assert (await client.post("/staff/login", data=data)).status_code == 400
        response = await client.post("/staff/login", data={"csrf": csrf, "username": "agent", "password": PASSWORD})
        assert response.status_code == 429


async def test_old_failures_age_out(live: Live) -> None:
    await add_staff(live, "agent", "agent")
    async with live.db.session() as session:
        old = utcnow() - accounts.THROTTLE_WINDOW - dt.timedelta(minutes=1)
        for _ in range(10):
            assert (await accounts.authenticate(session, "agent", "bad password", "10.0.0.1", now=old)).user is None
        await session.commit()
    async with live.client() as client:
        assert (await login(client, "agent")).status_code == 303


# -- escaping ------------------------------------------------------------------------------------------


async def test_user_text_is_escaped_everywhere(live: Live) -> None:
    ref = await add_complaint(
        live,
        description=f"Broken {XSS} and <img src=x onerror=alert(1)>",
        display_name="<b>Mallory</b>",
        district="other",
        district_text="<i>Somewhere</i>",
        answers={"x": "<u>answer</u>"},
        attachments=[{"kind": "photo", "ref": "<svg onload=alert(1)>", "content_type": "image/jpeg"}],
    )
    async with live.db.session() as session:
        session.add(
            UnansweredQuestion(channel="telegram", text=XSS, normalized="script alert", language="en", intent="x")
        )
        await session.commit()
    async with signed_in(live, "boss", "admin") as client:
        csrf = await token(client)
        note = await client.post(
            f"/staff/complaints/{ref}/note", data={"csrf": csrf, "note": f"note {XSS}", "visibility": "internal"}
        )
        assert note.status_code == 303
        pages = [
            await client.get("/staff/"),
            await client.get(f"/staff/complaints/{ref}"),
            await client.get("/staff/unanswered"),
            await client.get("/staff/?q=" + httpx.QueryParams({"q": XSS})["q"]),
        ]
        for page in pages:
            assert page.status_code == 200
            for raw in ("<script>", "<img src=x", "<b>Mallory", "<i>Somewhere", "<u>answer", "<svg onload"):
                assert raw not in page.text, (page.url, raw)
        detail = pages[1].text
        assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in detail
        assert "&lt;b&gt;Mallory&lt;/b&gt;" in detail
        assert "&lt;script&gt;" in pages[2].text


# -- the list ------------------------------------------------------------------------------------------


async def test_filters_search_sort_pages_and_counts(live: Live) -> None:
    now = utcnow()
    refs = []
    for i in range(30):
        refs.append(
            await add_complaint(
                live,
                description=f"complaint number {i:02d} " + ("100% broken_link" if i == 7 else "plain"),
                category="e_service" if i % 2 else "programme",
                district="lahore" if i % 3 == 0 else "peshawar",
                channel="whatsapp" if i % 5 == 0 else "telegram",
                user_id=f"u{i}",
                now=now - dt.timedelta(days=i),
            )
        )
    async with live.db.session() as session:
        for ref in refs[:4]:
            complaint = (await session.exec(select(Complaint).where(Complaint.reference == ref))).one()
            await change_status(session, live.kb, complaint, "in_review", actor="staff:test")
        await session.commit()
    async with signed_in(live, "viewer", "viewer") as client:
        first = (await client.get("/staff/")).text
        assert references(first) == refs[:25]  # newest first, 25 a page
        assert "page 1 of 2" in first and 'data-status="received"><b>26</b>' in first
        assert 'data-status="in_review"><b>4</b>' in first
        assert references((await client.get("/staff/?page=2")).text) == refs[25:]
        assert references((await client.get("/staff/?sort=oldest")).text)[:3] == refs[::-1][:3]
        in_review = await client.get("/staff/?status=in_review")
        assert references(in_review.text) == refs[:4]
        expected = [r for i, r in enumerate(refs) if i % 2 and i % 3 == 0]
        assert references((await client.get("/staff/?category=e_service&district=lahore")).text) == expected
        expected = [r for i, r in enumerate(refs) if i % 5 == 0]
        assert references((await client.get("/staff/?channel=whatsapp")).text) == expected
        local = now.astimezone(LOCAL_TZ)  # date filters are Pakistan days
        since, until = (local - dt.timedelta(days=5)).date(), (local - dt.timedelta(days=3)).date()
        dated = references((await client.get(f"/staff/?since={since}&until={until}")).text)
        assert dated == refs[3:6]
        assert references((await client.get("/staff/?q=NUMBER 12")).text) == [refs[12]]
        assert references((await client.get("/staff/?q=100%25")).text) == [refs[7]]  # % is literal
        assert references((await client.get("/staff/?q=n_mber")).text) == []  # _ is literal
        assert references((await client.get("/staff/?q=broken_link")).text) == [refs[7]]
        assert references((await client.get(f"/staff/?q={refs[3]}")).text) == [refs[3]]
        bad = await client.get("/staff/?status=nope&since=yesterday&page=x&sort=random")
        assert bad.status_code == 200 and "Ignored: unknown status" in bad.text and len(references(bad.text)) == 25
        for far in ("until=9999-12-31", "since=0001-01-01"):  # out of range: the filter is ignored, and said so
            page = await client.get(f"/staff/?{far}")
            assert page.status_code == 200 and "is out of range" in page.text and len(references(page.text)) == 25
            assert (await client.get(f"/staff/complaints.csv?{far}")).status_code == 403  # a viewer: not a 500
    async with signed_in(live, "exporter", "agent") as client:
        for far in ("until=9999-12-31", "since=0001-01-01"):
            assert (await client.get(f"/staff/complaints.csv?{far}")).status_code == 200


def test_like_pattern_escapes_wildcards() -> None:
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"


async def test_agent_limited_to_categories(live: Live) -> None:
    mine = await add_complaint(live, category="e_service")
    theirs = await add_complaint(live, category="programme")
    async with signed_in(live, "agent", "agent", ("e_service",)) as client:
        listing = await client.get("/staff/")
        assert references(listing.text) == [mine]
        assert (await client.get(f"/staff/complaints/{theirs}")).status_code == 404
        csrf = csrf_of(listing.text)
        response = await client.post(f"/staff/complaints/{theirs}/status", data={"csrf": csrf, "status": "resolved"})
        assert response.status_code == 404
        export = await client.get("/staff/complaints.csv")
        assert mine in export.text and theirs not in export.text
        overview = await client.get("/staff/overview")
        assert "<b>1</b> complaints" in overview.text
    assert len(await events_of(live, theirs)) == 1


# -- working a complaint -------------------------------------------------------------------------------


async def test_status_notes_and_assignment_go_into_the_event_log(live: Live) -> None:
    ref = await add_complaint(live, language="ur")
    await add_staff(live, "colleague", "agent", ("programme",))  # not assignable to an e_service complaint
    async with signed_in(live, "agent", "agent") as client:
        csrf = await token(client)
        url = f"/staff/complaints/{ref}"
        reject = await client.post(f"{url}/status", data={"csrf": csrf, "status": "rejected", "expected": "received"})
        assert reject.status_code == 400 and "a rejection needs a reason" in reject.text
        wrong = await client.post(f"{url}/status", data={"csrf": csrf, "status": "flying", "expected": "received"})
        assert wrong.status_code == 400
        ok = await client.post(f"{url}/status", data={"csrf": csrf, "status": "in_review", "expected": "received"})
        assert ok.status_code == 303 and ok.headers["location"] == f"{url}?ok=status"
        stale = await client.post(f"{url}/status", data={"csrf": csrf, "status": "resolved", "expected": "received"})
        assert stale.status_code == 409 and "changed this complaint meanwhile" in stale.text
        public = await client.post(
            f"{url}/note",
            data={"csrf": csrf, "note": "We called the centre.", "visibility": "public", "published": "Centre called"},
        )
        assert public.status_code == 303
        internal = await client.post(
            f"{url}/note", data={"csrf": csrf, "note": "Centre manager: Mr X", "visibility": "internal"}
        )
        assert internal.status_code == 303
        empty = await client.post(f"{url}/note", data={"csrf": csrf, "note": "  ", "visibility": "public"})
        assert empty.status_code == 400
        assert (await client.post(f"{url}/assign", data={"csrf": csrf, "assignee": "colleague"})).status_code == 400
        assert (await client.post(f"{url}/assign", data={"csrf": csrf, "assignee": "agent"})).status_code == 303
        rejected = await client.post(
            f"{url}/status", data={"csrf": csrf, "status": "rejected", "reason": "Not our service", "expected": ""}
        )
        assert rejected.status_code == 303
        page = (await client.get(url)).text
        assert "Centre manager: Mr X" in page and "We called the centre." in page and 'id="assigned">agent<' in page
    events = await events_of(live, ref)
    assert [(e.kind, e.to_status, e.public, e.actor) for e in events] == [
        ("filed", "received", False, "citizen"),
        ("status", "in_review", True, "staff:agent"),
        ("public_note", None, True, "staff:agent"),
        ("internal_note", None, False, "staff:agent"),
        ("assigned", None, False, "staff:agent"),
        ("status", "rejected", True, "staff:agent"),
    ]
    assert events[4].note == "agent" and events[5].note == "Not our service"
    assert [e.published_note for e in events] == [None, None, "Centre called", None, None, None]  # Open311's text
    notes = await notifications_of(live, ref)
    assert [(n.status, n.language, n.channel, n.user_id) for n in notes] == [("pending", "ur", "telegram", "4242")] * 3
    assert "We called the centre." in notes[1].text and "Not our service" in notes[2].text
    async with live.db.session() as session:
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == ref))).one()
        assert (complaint.status, complaint.status_reason, complaint.assigned_to) == (
            "rejected",
            "Not our service",
            "agent",
        )


async def test_viewer_sees_no_personal_data_and_erased_shows_erased(live: Live) -> None:
    ref = await add_complaint(live, latitude=34.0, longitude=71.5)
    erased = await add_complaint(live, display_name=None, user_id="erased")
    async with live.db.session() as session:
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == erased))).one()
        complaint.erased_at = utcnow()
        session.add(complaint)
        await session.commit()
    async with signed_in(live, "viewer", "viewer") as client:
        page = (await client.get(f"/staff/complaints/{ref}")).text
        assert "Ayesha Khan" not in page and "4242" not in page and "hidden for your role" in page
        assert "Mark handled" not in (await client.get("/staff/unanswered")).text
        assert 'id="status-form"' not in page
    async with signed_in(live, "agent", "agent") as client:
        page = (await client.get(f"/staff/complaints/{ref}")).text
        assert "Ayesha Khan" in page and "34.00000, 71.50000" in page
        gone = (await client.get(f"/staff/complaints/{erased}")).text
        assert "<em>erased</em>" in gone


# -- export --------------------------------------------------------------------------------------------


def read_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_csv_export_follows_filters_and_personal_data_by_role(live: Live) -> None:
    ref = await add_complaint(live, description='=HYPERLINK("http://evil") broken', district="lahore")
    other = await add_complaint(live, description="another one in peshawar", user_id="777", display_name="Bilal")
    async with live.db.session() as session:
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == other))).one()
        complaint.erased_at = utcnow()
        session.add(complaint)
        await session.commit()
    async with signed_in(live, "agent", "agent") as client:
        rows = read_csv(await client.get("/staff/complaints.csv?district=lahore"))
        assert [r["reference"] for r in rows] == [ref]
        assert "display_name" not in rows[0] and "user_id" not in rows[0] and "latitude" not in rows[0]
        assert rows[0]["description"].startswith("'=HYPERLINK")  # not a formula in a spreadsheet
        assert "4242" not in (await client.get("/staff/complaints.csv")).text
    async with signed_in(live, "boss", "admin") as client:
        rows = read_csv(await client.get("/staff/complaints.csv"))
        by_ref = {r["reference"]: r for r in rows}
        assert by_ref[ref]["display_name"] == "Ayesha Khan" and by_ref[ref]["user_id"] == "4242"
        assert by_ref[other]["display_name"] == "erased" and by_ref[other]["user_id"] == "erased"


# -- overview and unanswered ---------------------------------------------------------------------------


async def test_overview_charts(live: Live) -> None:
    now = utcnow()
    for i, (category, district) in enumerate([("e_service", "lahore"), ("programme", "peshawar")] * 3):
        await add_complaint(live, category=category, district=district, now=now - dt.timedelta(days=7 * i))
    async with live.db.session() as session:
        for complaint in (await session.exec(select(Complaint).order_by(col(Complaint.id)).limit(3))).all():
            await change_status(
                session,
                live.kb,
                complaint,
                "resolved",
                actor="staff:t",
                now=complaint.created_at + dt.timedelta(hours=4),
            )
        await session.commit()
    async with signed_in(live, "viewer", "viewer") as client:
        page = (await client.get("/staff/overview")).text
    assert page.count("<svg") == 5 and page.count('role="img"') == 5
    assert "<title" in page and "Complaints per status" in page and "Complaints filed per week" in page
    assert "<b>4.0 h</b> median time to resolution (3 resolved)" in page
    assert "Lahore: 3" in page and "Peshawar: 3" in page and "Resolved: 3" in page
    scripts = re.findall(r"<script[^>]*>", page)  # only the dashboard's own (bot/staff/static/staff.js): no CDN
    assert scripts == ['<script src="/staff/static/staff.js" defer>']
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")


def _question(text: str, normalized: str, language: str = "en") -> UnansweredQuestion:
    return UnansweredQuestion(channel="telegram", text=text, normalized=normalized, language=language, intent="x")


def test_grouping_by_similarity() -> None:
    rows = [
        _question("Fee for freelancers?", "fee for freelancers"),
        _question("fee for freelancers", "fee for freelancers"),
        _question("what is the fee for freelancers", "what is the fee for freelancers", "roman"),
        _question("Is there a park in Gilgit?", "park gilgit"),
        _question("?", ""),
    ]
    for i, row in enumerate(rows):
        row.id = i + 1
    groups = group_questions(rows)
    assert [g.count for g in groups] == [3, 1, 1]
    assert groups[0].text == "fee for freelancers" or groups[0].text == "Fee for freelancers?"
    assert groups[0].languages == ["en", "roman"] and groups[0].ids == [1, 2, 3]


def test_grouping_does_bounded_work_however_many_distinct_questions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Citizens write these rows: the fuzzy comparisons per view are bounded, and so is each compared text."""
    from rapidfuzz import fuzz

    compared = 0
    real = fuzz.token_set_ratio

    def counting(a: str, b: str, **kwargs: object) -> float:
        nonlocal compared
        compared += 1
        assert len(a) <= unanswered.MAX_KEY_CHARS and len(b) <= unanswered.MAX_KEY_CHARS
        return real(a, b, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fuzz, "token_set_ratio", counting)
    words = [f"w{n}" for n in range(3000)]
    rows = [_question(f"q{n}", f"{words[n]} {words[(n * 7) % 3000]} " + "padding " * 600) for n in range(3000)]
    for i, row in enumerate(rows):
        row.id = i + 1
    groups = group_questions(rows)
    assert compared <= unanswered.MAX_COMPARISONS
    assert sum(g.count for g in groups) == 3000


async def test_unanswered_queue_and_mark_handled(live: Live) -> None:
    async with live.db.session() as session:
        for text in ("fee for freelancers?", "Fee for freelancers", "fee for a freelancer", "gilgit park"):
            session.add(_question(text, text.lower().strip("?")))
        session.add(_question("done", "done already"))
        await session.commit()
        done = (await session.exec(select(UnansweredQuestion).where(UnansweredQuestion.text == "done"))).one()
        done.handled = True
        session.add(done)
        await session.commit()
    async with signed_in(live, "agent", "agent") as client:
        page = (await client.get("/staff/unanswered")).text
        assert "4 open questions" in page and "in 2 groups" in page and "3×" in page and "done" not in page
        forms = re.findall(r'<form method="post" action="/staff/unanswered/handled">(.*?)</form>', page, re.S)
        ids = re.findall(r'name="id" value="(\d+)"', forms[0])
        assert len(ids) == 3
        response = await client.post(
            "/staff/unanswered/handled",
            data={"csrf": csrf_of(page), "id": ids},  # type: ignore[dict-item]
        )
        assert response.status_code == 303
        assert "1 open question " in (await client.get("/staff/unanswered?ok=handled")).text
    async with live.db.session() as session:
        handled = list(await session.exec(select(UnansweredQuestion).where(col(UnansweredQuestion.handled))))
    assert sorted(q.handled_by or "" for q in handled) == ["", "agent", "agent", "agent"]


# -- dead letters --------------------------------------------------------------------------------------


async def test_dead_letters_page_lists_them_and_retry_and_dismiss_work(
    live: Live, knowledge: tuple[KnowledgeBase, Matcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    import handlers.dispatcher as module
    from handlers.messages import Incoming

    from .conftest import make_dispatcher

    async def broken(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"a bug in answering {XSS}")

    monkeypatch.setattr(module, "answer_question", broken)
    dispatcher = make_dispatcher(live.db, knowledge)
    for number in (1, 2):
        message = Incoming(channel="telegram", user_id="4242", text="startup registration fee", message_id=f"u{number}")
        outcome = await dispatcher.handle(message, payload=f'{{"update_id": {number}, "text": "{XSS}"}}')
        assert outcome.intent == "failed"
    async with signed_in(live, "agent", "agent") as agent:
        assert "Dead letters" not in (await agent.get("/staff/")).text  # admins only
    async with signed_in(live, "boss", "admin") as client:
        assert 'href="/staff/deadletters"' in (await client.get("/staff/")).text
        page = (await client.get("/staff/deadletters")).text
        assert page.count('class="card dead-letter"') == 2 and page.index("#2") < page.index("#1")  # newest first
        assert "builtins.RuntimeError" in page and "telegram" in page and "<details>" in page
        assert XSS not in page and "&lt;script&gt;" in page  # the payload and the error are escaped
        csrf = csrf_of(page)
        refused = await client.post("/staff/deadletters/1", data={"action": "retry", "csrf": "forged"})
        assert refused.status_code == 403
        failed = await client.post("/staff/deadletters/1", data={"action": "retry", "csrf": csrf})
        assert failed.status_code == 409 and "failed again" in failed.text  # still broken: it stays open

        monkeypatch.undo()  # the bug is fixed
        response = await client.post("/staff/deadletters/1", data={"action": "retry", "csrf": csrf})
        assert response.status_code == 303 and response.headers["location"] == "/staff/deadletters?ok=retried"
        dismissed = await client.post("/staff/deadletters/2", data={"action": "dismiss", "csrf": csrf})
        assert dismissed.status_code == 303
        assert 'class="card dead-letter"' not in (await client.get("/staff/deadletters?ok=dismissed")).text
        everything = (await client.get("/staff/deadletters?all=1")).text
        assert everything.count('class="card dead-letter"') == 2 and "staff:boss" in everything
        again = await client.post("/staff/deadletters/2", data={"action": "retry", "csrf": csrf})
        assert again.status_code == 409 and "not open" in again.text
    async with live.db.session() as session:
        first, second = await session.get(DeadLetter, 1), await session.get(DeadLetter, 2)
        assert first is not None and second is not None
        assert (first.status, first.attempts, first.updated_by) == ("retried", 2, "staff:boss")
        assert second.status == "dismissed"
        [kept] = list(await session.exec(select(Notification).where(Notification.kind == "reply")))
    assert (kept.channel, kept.user_id) == ("telegram", "4242") and "Rs 1,000" in kept.text


# -- accounts ------------------------------------------------------------------------------------------


async def test_admin_manages_accounts(live: Live) -> None:
    async with signed_in(live, "boss", "admin") as client:
        csrf = await token(client)
        added = await client.post(
            "/staff/accounts",
            data={"csrf": csrf, "username": "Zara", "role": "agent", "categories": ["e_service"], "password": ""},
        )
        assert added.status_code == 200 and 'id="created"' in added.text
        password = re.search(r"password <code>([^<]+)</code>", added.text).group(1)  # type: ignore[union-attr]
        weak = await client.post(
            "/staff/accounts", data={"csrf": csrf, "username": "weak", "role": "agent", "password": "short"}
        )
        assert weak.status_code == 400 and "at least 10 characters" in weak.text
        taken = await client.post(
            "/staff/accounts", data={"csrf": csrf, "username": "zara", "role": "agent", "password": PASSWORD}
        )
        assert taken.status_code == 400 and "taken" in taken.text
        async with live.client() as zara:
            assert (await login(zara, "zara", password)).status_code == 303
            saved = await client.post(
                "/staff/accounts/zara",
                data={"csrf": csrf, "action": "save", "role": "viewer", "categories": ["programme", "e_service"]},
            )
            assert saved.status_code == 303
            assert (await zara.get("/staff/")).status_code == 303  # a role change signs out at once
            assert (await login(zara, "zara", password)).status_code == 303
            assert (
                await client.post("/staff/accounts/zara", data={"csrf": csrf, "action": "disable"})
            ).status_code == 303
            assert (await zara.get("/staff/")).status_code == 303
        own = await client.post("/staff/accounts/boss", data={"csrf": csrf, "action": "disable"})
        assert own.status_code == 400 and "your own account" in own.text
        assert (await client.post("/staff/accounts/ghost", data={"csrf": csrf, "action": "disable"})).status_code == 404
    async with live.db.session() as session:
        zara_user = await accounts.get_staff(session, "zara")
        assert zara_user is not None
        assert (zara_user.role, zara_user.categories, zara_user.active) == ("viewer", ["e_service", "programme"], False)
        assert zara_user.password_hash.startswith("$argon2id$")
        boss = await accounts.get_staff(session, "boss")
        assert boss is not None
        with pytest.raises(accounts.AccountError, match="last active admin"):
            await accounts.set_active(session, boss, False)


def test_production_hashes_at_argon2_defaults_and_tests_at_the_least_cost() -> None:
    from argon2.profiles import RFC_9106_LOW_MEMORY

    production = accounts.build_hasher()
    assert (production.time_cost, production.memory_cost, production.parallelism, production.type) == (
        RFC_9106_LOW_MEMORY.time_cost,
        RFC_9106_LOW_MEMORY.memory_cost,
        RFC_9106_LOW_MEMORY.parallelism,
        RFC_9106_LOW_MEMORY.type,
    )
    assert accounts.hasher is TEST_HASHER  # tests/conftest.py swapped it in, for the whole session
    assert accounts.hasher.verify(production.hash(PASSWORD), PASSWORD)  # a production hash still verifies


# -- the terminal --------------------------------------------------------------------------------------


def sahulat(url: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    return sahulat_in_process(*args, stdin=stdin, env={**os.environ, "DATABASE_URL": url})


@pytest.mark.parametrize(
    "command",
    [["staff"], ["staff", "add"], ["staff", "list"], ["staff", "disable"], ["staff", "unlock"], ["staff", "bootstrap"]]
    + [["complaints"]]
    + [["complaints", action] for action in ("list", "show", "export")],
)
def test_staff_commands_have_help(command: list[str]) -> None:
    code, out, _ = sahulat_in_process(*command, "--help")
    assert code == 0 and out.startswith("usage: sahulat")


def test_cli_accounts_and_complaints(database_url: str, tmp_path: Path) -> None:
    # `sahulat` migrates a SQLite file itself; the fixture's file has no Alembic history, so use a new one there
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}" if database_url.startswith("sqlite") else database_url
    code, out, err = sahulat(url, "staff", "bootstrap")
    assert code == 0 and "'admin' (admin) with the one-time password" in out
    assert sahulat(url, "staff", "bootstrap") == (0, "", "")  # only once
    assert sahulat(url, "staff", "add", "ali", "--role", "agent", "--categories", "e_service", stdin=PASSWORD + "\n")[
        :2
    ] == (0, "added ali (agent, categories: e_service)\n")
    code, _, err = sahulat(url, "staff", "add", "ali", "--role", "viewer", stdin=PASSWORD + "\n")
    assert code == 1 and err == "sahulat: error: the username 'ali' is taken\n"
    code, _, err = sahulat(url, "staff", "add", "bob", "--role", "viewer", stdin="short\n")
    assert code == 1 and "at least 10 characters" in err and "Traceback" not in err
    code, _, err = sahulat(url, "staff", "add", "bob", "--role", "king", stdin=PASSWORD + "\n")
    assert code == 2 and "invalid choice" in err
    assert sahulat(url, "staff", "disable", "ali")[:2] == (0, "disabled ali; its sessions are signed out\n")
    code, _, err = sahulat(url, "staff", "disable", "nobody")
    assert code == 1 and "no staff account named 'nobody'" in err
    code, out, _ = sahulat(url, "staff", "list")
    assert code == 0 and re.search(r"admin\s+admin\s+yes", out) and re.search(r"ali\s+agent\s+no .*e_service", out)

    async def seed() -> str:
        database = Database(url)
        try:
            async with database.session() as session:
                draft = Draft(
                    channel="whatsapp", user_id="whatsapp:+923001234567", category="programme", district="swat",
                    description="Digital Jobs stipend not paid", display_name="Sana",
                )  # fmt: skip
                complaint = await file_complaint(session, draft)
                await session.commit()
                return complaint.reference
        finally:
            await database.dispose()

    ref = asyncio.run(seed())
    code, out, _ = sahulat(url, "complaints", "list", "--category", "programme")
    assert code == 0 and ref in out and "1 of 1 complaint(s)" in out
    code, out, _ = sahulat(url, "complaints", "list", "--search", "nothing like this")
    assert code == 0 and "0 of 0" in out
    code, out, _ = sahulat(url, "complaints", "show", ref.lower())
    assert code == 0 and "Digital Jobs stipend not paid" in out and "citizen filed" in out and "Sana" in out
    code, _, err = sahulat(url, "complaints", "show", "CMP-1999-000001")
    assert code == 1 and "no complaint" in err
    code, out, _ = sahulat(url, "complaints", "export")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows[0]["reference"] == ref and "user_id" not in rows[0]
    target = tmp_path / "all.csv"
    code, _, err = sahulat(url, "complaints", "export", "--personal", "--output", str(target))
    assert code == 0 and "wrote 1 complaint(s)" in err
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert rows[0]["user_id"] == "whatsapp:+923001234567"
    code, _, err = sahulat(url, "complaints", "list", "--since", "2026-02-30")
    assert code == 1 and "not a date" in err
    code, _, err = sahulat(url, "complaints", "export", "--until", "9999-12-31")
    assert code == 1 and "out of range" in err
    code, _, err = sahulat(url, "complaints", "list", "--limit", "0")
    assert code == 2
