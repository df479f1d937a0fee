"""The staff dashboard in a real browser (Debian's Chromium, headless, through Playwright), on both databases.

A staff member logs in, filters, opens a complaint, changes its status and writes a public note (the citizen's
notifications are queued), exports CSV, looks at the charts, checks the list fits a phone, and logs out.
On failure a screenshot is saved to test-artifacts/<test name>.png. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlmodel import col, select

from bot.models import Complaint, ComplaintEvent, Notification

from .conftest import ROOT, UNDER_CI
from .test_staff import PASSWORD, XSS, Live, add_complaint, add_staff, live  # noqa: F401  (fixture)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"


async def sign_in(page: Page, url: str, username: str) -> None:
    """Sign in on the dashboard's login page of the app at `url` as `username` (tests' PASSWORD)."""
    await page.goto(f"{url}/staff/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


def on_screens(name: str = "viewport") -> pytest.MarkDecorator:
    """A browser test on a desktop and a 375 px phone, each on one database (desktop on PostgreSQL, phone on
    SQLite): what is stored is tested on both databases by the HTTP-level tests, the browser's part is the page, and
    the four combinations made the browser tests the slowest part of `make test`."""
    return pytest.mark.parametrize(
        ("database_url", name), [("postgres", "desktop"), ("sqlite", "phone")], indirect=["database_url"]
    )


TIMEOUT_MS = 15_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Skipped on a machine without Chromium; under CI (.ci/run installs it) a missing browser fails instead.
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not UNDER_CI, reason="no /usr/bin/chromium")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield instance
        finally:
            await instance.close()


async def new_page(browser: Browser, **options: object) -> Page:
    context = await browser.new_context(accept_downloads=True, **options)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return await context.new_page()


async def screenshot_on_failure(page: Page, request: pytest.FixtureRequest) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    try:
        await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, timeout=TIMEOUT_MS)
    except Exception as exc:  # the screenshot must not hide the real failure
        print(f"could not save a screenshot: {exc}")


async def test_staff_works_a_complaint_in_the_browser(
    live: Live,  # noqa: F811
    browser: Browser,
    request: pytest.FixtureRequest,
) -> None:
    await add_staff(live, "amina", "agent")
    target = await add_complaint(live, description=f"The e-stamping counter in Peshawar refused my stamp paper {XSS}")
    other = await add_complaint(live, category="programme", district="lahore", description="Stipend not paid yet")
    await add_complaint(live, category="e_service", district="swat", description="Centre closed on Monday")
    page = await new_page(browser)
    try:
        # log in (the dashboard sends an anonymous visitor to the login page first)
        await page.goto(f"{live.url}/staff/")
        await expect(page).to_have_url(re.compile(r"/staff/login\?next="))
        await page.get_by_label("Username").fill("amina")
        await page.get_by_label("Password").fill("not the password")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Complaints")).to_be_visible()
        await expect(page.locator("#result-count")).to_contain_text("3 complaints")
        await expect(page.locator('a.count[data-status="received"] b')).to_have_text("3")

        # filter by category and district
        await page.get_by_label("Category", exact=True).select_option("e_service")
        await page.get_by_label("District", exact=True).select_option("peshawar")
        await page.get_by_role("button", name="Filter").click()
        await expect(page.locator("#result-count")).to_contain_text("1 complaint")
        await expect(page.get_by_role("link", name=other)).to_have_count(0)
        assert "category=e_service" in page.url and "district=peshawar" in page.url

        # open the complaint: the <script> in its text is shown as text, not run
        await page.get_by_role("link", name=target).click()
        await expect(page.get_by_role("heading", name=target)).to_be_visible()
        await expect(page.locator("#description")).to_contain_text(XSS)
        assert await page.locator("main script").count() == 0

        # change its status, then send the citizen a public note
        await page.locator("#status-form").get_by_label("New status").select_option("in_review")
        await page.locator("#status-form").get_by_label("Reason").fill("Forwarded to the Peshawar centre")
        await page.get_by_role("button", name="Change status").click()
        await expect(page.get_by_role("status")).to_contain_text("Status changed")
        await expect(page.locator("#status")).to_have_text("In review")
        await page.locator("#note-form").get_by_label("Note", exact=True).fill("The centre will call you tomorrow.")
        await page.get_by_label("Public: sent to the citizen").check()
        await page.get_by_role("button", name="Add note").click()
        await expect(page.get_by_role("status")).to_contain_text("Public note added")
        await expect(page.locator("#history tbody tr")).to_have_count(3)
        await expect(page.locator("#history")).to_contain_text("staff:amina")
        await expect(page.locator("#notifications tbody tr")).to_have_count(2)
        await expect(page.locator("#notifications .n-status").first).to_have_text("pending")
        async with live.db.session() as session:
            complaint = (await session.exec(select(Complaint).where(Complaint.reference == target))).one()
            queued = list(
                await session.exec(
                    select(Notification).where(Notification.complaint_id == complaint.id).order_by(col(Notification.id))
                )
            )
            events = list(await session.exec(select(ComplaintEvent).where(ComplaintEvent.complaint_id == complaint.id)))
        assert complaint.status == "in_review"
        assert [n.status for n in queued] == ["pending", "pending"]
        assert "In review" in queued[0].text and "Forwarded to the Peshawar centre" in queued[0].text
        assert "The centre will call you tomorrow." in queued[1].text
        assert {(e.kind, e.actor) for e in events} >= {("status", "staff:amina"), ("public_note", "staff:amina")}

        # export the filtered list as CSV (an agent's export has no personal data)
        await page.get_by_role("link", name="Complaints", exact=True).click()
        await page.get_by_label("Category", exact=True).select_option("e_service")
        await page.get_by_role("button", name="Filter").click()
        await expect(page.locator("#result-count")).to_contain_text("2 complaints")
        async with page.expect_download(timeout=TIMEOUT_MS) as info:
            await page.get_by_role("link", name="Export CSV").click()
        download = await info.value
        path = await download.path()
        text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert sorted(r["category"] for r in rows) == ["e_service", "e_service"]
        assert target in {r["reference"] for r in rows} and "display_name" not in rows[0]

        # the overview's charts render (inline SVG, with accessible titles)
        await page.get_by_role("link", name="Overview").click()
        charts = page.locator("svg.chart")
        await expect(charts).to_have_count(5)
        for i in range(5):
            box = await charts.nth(i).bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 20
        await expect(page.get_by_role("img", name=re.compile("Complaints per status"))).to_be_visible()
        assert await page.locator("svg.chart rect.fill").count() > 5
        await expect(page.locator("#median")).to_contain_text("median time to resolution")

        # log out; the dashboard is closed again
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await page.goto(f"{live.url}/staff/overview")
        await expect(page).to_have_url(re.compile(r"/staff/login"))
    except BaseException:
        await screenshot_on_failure(page, request)
        raise
    finally:
        await page.context.close()


async def test_pages_fit_a_phone_screen(
    live: Live,  # noqa: F811
    browser: Browser,
    request: pytest.FixtureRequest,
) -> None:
    await add_staff(live, "viewer1", "viewer")
    reference = await add_complaint(live, description="A long complaint " + "without any break " * 40)
    page = await new_page(browser, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    try:
        await page.goto(f"{live.url}/staff/login")
        await page.get_by_label("Username").fill("viewer1")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Complaints")).to_be_visible()
        for path in ("/staff/", f"/staff/complaints/{reference}", "/staff/overview", "/staff/unanswered"):
            await page.goto(f"{live.url}{path}")
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} is {overflow}px wider than the phone screen"
        assert await page.get_by_role("button", name="Change status").count() == 0  # a viewer only reads
    except BaseException:
        await screenshot_on_failure(page, request)
        raise
    finally:
        await page.context.close()


async def test_an_admin_reads_and_filters_the_audit_trail_in_the_browser(
    live: Live,  # noqa: F811
    browser: Browser,
    request: pytest.FixtureRequest,
) -> None:
    await add_staff(live, "amina", "agent")
    await add_staff(live, "boss", "admin")
    page = await new_page(browser)
    try:
        for username, password in (("amina", "not the password"), ("boss", PASSWORD)):
            await page.goto(f"{live.url}/staff/login")
            await page.get_by_label("Username").fill(username)
            await page.get_by_label("Password").fill(password)
            await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("link", name="Audit").click()
        await expect(page).to_have_url(re.compile(r"/staff/audit$"))
        rows = page.locator("#audit tbody tr")
        await expect(rows).to_have_count(2)  # boss signed in; amina's wrong password before it
        await expect(rows.first).to_contain_text("boss")
        await page.get_by_label("Action").select_option("sign_in_failed")
        await page.get_by_role("button", name="Filter").click()
        await expect(page).to_have_url(re.compile(r"action=sign_in_failed"))
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("amina")
        async with page.expect_download(timeout=TIMEOUT_MS) as info:
            await page.get_by_role("link", name="Export CSV").click()
        download = await info.value
        text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8-sig")
        exported = list(csv.DictReader(io.StringIO(text)))
        assert [(r["actor"], r["action"]) for r in exported] == [("amina", "sign_in_failed")]
    except BaseException:
        await screenshot_on_failure(page, request)
        raise
    finally:
        await page.context.close()
