"""The staff inbox in a real browser (Debian's Chromium through Playwright), on a desktop and a 375 px phone: an
agent opens the inbox, takes a conversation, replies, sees the citizen's answer after a reload, and hands back.
Screenshots of each step go to test-artifacts/inbox-<viewport>-<step>.png."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect
from sqlmodel import select

from bot.domain.conversation import request_handover
from bot.models import Complaint, Handover, Notification
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher

from . import test_staff_browser
from .test_staff import Live, add_complaint, add_staff
from .test_staff_browser import ARTIFACTS, new_page, on_screens, screenshot_on_failure, sign_in
from .test_staff_inbox import live  # noqa: F401  (fixture)

browser = test_staff_browser.browser  # the same fixture: headless Chromium
pytestmark = test_staff_browser.pytestmark

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 740}}


@on_screens()
async def test_an_agent_takes_replies_and_hands_back_in_the_browser(
    live: Live,  # noqa: F811
    browser: Browser,
    knowledge: tuple[KnowledgeBase, Matcher],
    request: pytest.FixtureRequest,
    viewport: str,
) -> None:
    await add_staff(live, "amina", "agent")
    reference = await add_complaint(live, description="The internet at the facilitation centre is down")
    async with live.db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await request_handover(session, "telegram", "4242", language="en", display_name=None, complaint=complaint)
    citizen = Dispatcher(live.db, *knowledge)
    phone = viewport == "phone"
    page = await new_page(browser, viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone)
    ARTIFACTS.mkdir(exist_ok=True)

    async def shot(step: str) -> None:
        await page.screenshot(path=str(ARTIFACTS / f"inbox-{viewport}-{step}.png"), full_page=True)

    try:
        await sign_in(page, live.url, "amina")
        await expect(page.locator("#nav-inbox .count").first).to_have_text("1")
        await page.locator("#nav-inbox").click()
        await expect(page.locator("#inbox")).to_contain_text(reference)
        await shot("1-inbox")
        await page.get_by_role("link", name=reference).click()
        await page.get_by_role("button", name="Take over").click()
        await expect(page.locator("#handover-state")).to_contain_text("Held by amina")
        await page.locator("#reply-form").get_by_label("Reply to the citizen").fill("A technician is on the way.")
        await page.get_by_role("button", name="Send reply").click()
        await expect(page.locator("#chat")).to_contain_text("A technician is on the way.")
        # the citizen answers on Telegram while the agent holds the conversation: stored, the bot says nothing
        outcome = await citizen.handle(Incoming(channel="telegram", user_id="4242", text="Thank you, I will wait"))
        assert outcome.replies == []
        await page.reload()
        await expect(page.locator("#chat .from-citizen").last).to_contain_text("Thank you, I will wait")
        await shot("2-conversation")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[viewport]["width"], f"the page scrolls sideways ({width} px)"
        await page.get_by_role("button", name="Hand back to the bot").click()
        await expect(page.locator(".flash.ok")).to_contain_text("Handed back")
        await expect(page.locator("#nav-inbox .count").first).to_have_text("0")
        await shot("3-handed-back")
    except BaseException:
        await screenshot_on_failure(page, request)
        raise
    async with live.db.session() as session:
        handover = (await session.exec(select(Handover))).one()
        texts = [n.text for n in await session.exec(select(Notification))]
    assert handover.status == "closed" and handover.closed_by == "staff:amina"
    assert f"Staff, about your complaint {reference}: A technician is on the way." in texts
    assert re.search("back with the bot", texts[-1])
