"""The whole life of a routed complaint in a real browser (Debian's Chromium through Playwright), on both
databases, on a desktop and a 375 px phone: an admin adds a body and a rule; a complaint filed long ago (the
controllable clock: filing with a past `now`) is routed to it and overdue; the worker's escalation round takes it to
the body's supervisors; staff resolve it on its page; the citizen answers "Was it solved?" with yes and a rating
(through the channel-neutral core); the overview by body shows it. Screenshots: test-artifacts/verdict-*.png."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import Browser, expect

from bot.domain.escalation import escalate_round
from bot.domain.routing_data import load_routing
from bot.settings import get_settings
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher

from .test_staff import PASSWORD, Live, add_complaint, add_staff, live  # noqa: F401  (fixture)
from .test_staff_browser import (  # noqa: F401
    ARTIFACTS,
    browser,
    new_page,
    on_screens,
    pytestmark,
    screenshot_on_failure,
    sign_in,
)

__all__ = ["browser", "live", "pytestmark"]
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True},
}


@on_screens("screen")
async def test_a_complaint_from_routing_to_the_citizens_rating_in_the_overview(
    live: Live,  # noqa: F811
    browser: Browser,  # noqa: F811
    knowledge: tuple[KnowledgeBase, Matcher],
    request: pytest.FixtureRequest,
    screen: str,
) -> None:
    await add_staff(live, "amna", "admin")
    page = await new_page(browser, **VIEWPORTS[screen])
    shot = f"{screen}-{'sqlite' if 'sqlite' in request.node.name else 'postgres'}"
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        await sign_in(page, live.url, "amna")
        await page.goto(f"{live.url}/staff/routing")
        body = page.locator("#add-body")
        await body.get_by_label("Code").fill("sindh_itb")
        await body.get_by_label("Name in English").fill("Sindh IT Board")
        await body.get_by_label("Name in Urdu").fill("سندھ آئی ٹی بورڈ")
        await body.get_by_label("Province").select_option("Sindh")
        await body.get_by_role("button", name="Add body").click()
        await expect(page.get_by_role("status")).to_contain_text("Body added")
        rule = page.locator("#add-rule")
        await rule.locator('select[name="category"]').select_option("programme")
        await rule.locator('select[name="province"]').select_option("Sindh")
        await rule.locator('select[name="body"]').select_option("sindh_itb")
        await rule.get_by_role("button", name="Add rule").click()
        await expect(page.get_by_role("status")).to_contain_text("Rule added")

        # Filed 60 days ago: routed to the new body and long overdue; the worker's round escalates it.
        filed = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
        reference = await add_complaint(
            live, category="programme", district="karachi", province="Sindh", description="Stipend unpaid", now=filed
        )
        assert await escalate_round(live.db, load_routing(get_settings().knowledge_dir)) >= 1
        await page.goto(f"{live.url}/staff/overdue")
        await expect(page.locator("#overdue")).to_contain_text(reference)
        await expect(page.locator("#overdue")).to_contain_text("Sindh IT Board")
        await page.goto(f"{live.url}/staff/complaints/{reference}")
        await expect(page.locator("#history")).to_contain_text("escalated")

        # Staff resolve it; the resolution's message asks the citizen whether it was solved.
        await page.locator("#status-form").get_by_label("New status").select_option("resolved")
        await page.locator("#status-form").get_by_label("Reason").fill("Stipend paid on 3 March")
        await page.get_by_role("button", name="Change status").click()
        await expect(page.get_by_role("status")).to_contain_text("Status changed")
        await expect(page.locator("#notifications")).to_contain_text("Was it solved?")

        # The citizen (Telegram chat 4242) answers yes and rates it 4, through the core as a channel hands it on.
        kb, matcher = knowledge
        dispatcher = Dispatcher(live.db, kb, matcher)
        citizen = {"channel": "telegram", "user_id": "4242"}
        thanks = await dispatcher.handle(Incoming(**citizen, payload=f"verdict:yes:{reference}"))
        assert "is now closed" in thanks.replies[0].text
        assert "4 of 5" in (await dispatcher.handle(Incoming(**citizen, text="4"))).replies[0].text
        await page.reload()
        await expect(page.locator("#status")).to_have_text("Closed")
        await page.screenshot(path=str(ARTIFACTS / f"verdict-complaint-{shot}.png"), full_page=True)

        # The overview by body: one received, resolved late (0 % on time), none overdue now, rated 4.
        await page.goto(f"{live.url}/staff/overview")
        await page.get_by_label("Body", exact=True).select_option("sindh_itb")
        await page.get_by_label("Filed from").fill((filed - dt.timedelta(days=1)).date().isoformat())
        await page.get_by_role("button", name="Show").click()
        row = page.locator("#body-row-sindh_itb")
        await expect(row.locator('td[data-label="Received"]')).to_have_text("1")
        await expect(row.locator('td[data-label="On time"]')).to_contain_text("0%")
        await expect(row.locator('td[data-label="Overdue now"]')).to_have_text("0")
        await expect(row.locator('td[data-label="Average rating"]')).to_contain_text("4")
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the overview is {overflow}px wider than the screen"
        await page.locator("#by-body").screenshot(path=str(ARTIFACTS / f"verdict-overview-{shot}.png"))
        async with page.expect_download() as download_info:
            await page.locator("#overview-csv").click()
        download = await download_info.value
        text = open(await download.path(), encoding="utf-8-sig").read()  # noqa: SIM115, ASYNC230
        assert text.splitlines()[1].startswith("sindh_itb,Sindh IT Board,1,1,0,")
    except BaseException:
        await screenshot_on_failure(page, request)
        raise
    finally:
        await page.context.close()
