"""The help desk in a real browser (Debian's Chromium through Playwright), on a desktop and a 375 px phone: an agent
opens the inbox, takes a conversation, replies with a canned reply (filled in for the citizen, edited in the reply
box), sees the citizen's answer and a new waiting conversation appear without reloading, and hands back.
Screenshots of each step go to test-artifacts/desk-<viewport>-<step>.png."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlmodel import select

from bot.domain.conversation import request_handover
from bot.models import CannedReply, Complaint, Notification
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher

from . import test_staff_browser
from .test_inbox_browser import VIEWPORTS
from .test_staff import Live, add_complaint, add_staff
from .test_staff_browser import ARTIFACTS, new_page, on_screens, screenshot_on_failure, sign_in
from .test_staff_inbox import live  # noqa: F401  (fixture)

browser = test_staff_browser.browser  # the same fixture: headless Chromium
pytestmark = test_staff_browser.pytestmark
LIVE_WAIT = 15_000  # ms: the page polls every STAFF_REFRESH_SECONDS (0.5 s in tests/test_staff.py's live app)


@on_screens()
async def test_an_agent_replies_with_a_canned_reply_and_sees_the_answer_live(
    live: Live,  # noqa: F811
    browser: Browser,
    knowledge: tuple[KnowledgeBase, Matcher],
    request: pytest.FixtureRequest,
    viewport: str,
) -> None:
    await add_staff(live, "amina", "agent")
    reference = await add_complaint(live, description="The internet at the facilitation centre is down")
    async with live.db.session() as session, session.begin():
        session.add(
            CannedReply(
                title="Looking into it",
                text_en="Thank you, {first_name}. We are looking into {reference}.",
                text_ur="شکریہ {first_name}۔ ہم {reference} کو دیکھ رہے ہیں۔",
                text_roman="Shukriya {first_name}. Hum {reference} ko dekh rahe hain.",
            )
        )
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await request_handover(
            session, "telegram", "4242", language="en", display_name="Ayesha Khan", complaint=complaint
        )
    citizen = Dispatcher(live.db, *knowledge)
    phone = viewport == "phone"
    page = await new_page(browser, viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone)
    ARTIFACTS.mkdir(exist_ok=True)

    async def shot(step: str) -> None:
        await page.screenshot(path=str(ARTIFACTS / f"desk-{viewport}-{step}.png"), full_page=True)

    try:
        await sign_in(page, live.url, "amina")
        await page.locator("#nav-inbox").click()
        await expect(page.locator("#inbox")).to_contain_text(reference)
        await shot("1-inbox")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[viewport]["width"], f"the inbox scrolls sideways ({width} px)"
        await page.get_by_role("link", name=reference).click()
        await page.get_by_role("button", name="Take over").click()
        await expect(page.locator("#handover-state")).to_contain_text("Held by amina")
        await page.get_by_label("Canned reply").select_option(label="Looking into it")
        box = page.locator("#reply-text")
        await expect(box).to_have_value(f"Thank you, Ayesha. We are looking into {reference}.")
        await box.press("End")
        await box.type(" A technician comes today.")
        await shot("2-canned")
        await page.get_by_role("button", name="Send reply").click()
        await expect(page.locator("#chat")).to_contain_text("A technician comes today.")
        reloads: list[str] = []
        page.on("framenavigated", lambda frame: reloads.append(frame.url) if frame == page.main_frame else None)
        # the citizen answers on Telegram; the page shows it without being reloaded
        outcome = await citizen.handle(Incoming(channel="telegram", user_id="4242", text="Thank you, I will wait"))
        assert outcome.replies == []
        await expect(page.locator("#chat .from-citizen").last).to_contain_text(
            "Thank you, I will wait", timeout=LIVE_WAIT
        )
        # another citizen asks for a person: the navigation bar's count goes up, still without a reload
        await citizen.handle(Incoming(channel="whatsapp", user_id="923001234567", text="talk to a person"))
        await expect(page.locator("#nav-inbox .count").first).to_have_text("1", timeout=LIVE_WAIT)
        assert reloads == []
        await shot("3-live")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[viewport]["width"], f"the page scrolls sideways ({width} px)"
        await page.get_by_role("button", name="Hand back to the bot").click()
        await expect(page.locator(".flash.ok")).to_contain_text("Handed back")
        await expect(page.locator("#chat .from-bot").last).to_contain_text("back with the bot")  # the bot's side
        await shot("4-handed-back")
        # on the inbox, a citizen who asks for a person appears without a reload
        await page.locator("#nav-inbox").click()
        await expect(page.locator("#inbox tbody tr")).to_have_count(1)
        await citizen.handle(Incoming(channel="telegram", user_id="5151", text="insaan se baat"))
        await expect(page.locator("#inbox tbody tr")).to_have_count(2, timeout=LIVE_WAIT)
        await expect(page.locator("#nav-inbox .count").first).to_have_text("2")
        await shot("5-inbox-live")
    except BaseException:
        await screenshot_on_failure(page, request)
        raise
    async with live.db.session() as session:
        texts = [n.text for n in await session.exec(select(Notification))]
    assert (
        f"Staff, about your complaint {reference}: Thank you, Ayesha. We are looking into {reference}. "
        "A technician comes today." in texts
    )


@on_screens()
async def test_an_admin_keeps_canned_replies_and_a_bad_placeholder_is_explained(
    live: Live,  # noqa: F811
    browser: Browser,
    request: pytest.FixtureRequest,
    viewport: str,
) -> None:
    await add_staff(live, "root", "admin")
    phone = viewport == "phone"
    page = await new_page(browser, viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        await sign_in(page, live.url, "root")
        await page.get_by_role("link", name="Canned replies").click()
        form = page.locator("#add-canned")
        await form.get_by_label("Title").fill("Greeting")
        await form.get_by_label("English").fill("Hello {name}")
        await form.get_by_label("Urdu", exact=True).fill("سلام {first_name}")
        await form.get_by_label("Roman Urdu").fill("Salam {first_name}")
        await form.get_by_role("button", name="Add").click()
        await expect(page.locator(".flash.error")).to_contain_text("English: unknown placeholder {name}")
        await page.screenshot(path=str(ARTIFACTS / f"desk-{viewport}-canned-refused.png"), full_page=True)
        await page.locator("#add-canned").get_by_label("English").fill("Hello {first_name}")
        await page.locator("#add-canned").get_by_role("button", name="Add").click()
        await expect(page.locator(".flash.ok")).to_contain_text("Canned reply saved")
        await page.screenshot(path=str(ARTIFACTS / f"desk-{viewport}-canned.png"), full_page=True)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[viewport]["width"], f"the page scrolls sideways ({width} px)"
    except BaseException:
        await screenshot_on_failure(page, request)
        raise
