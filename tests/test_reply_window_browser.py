"""The reply box's notice about WhatsApp's 24-hour window in a real browser (Debian's Chromium through Playwright),
on a desktop and a 375 px phone. Screenshots go to test-artifacts/reply-window-<viewport>.png."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import Browser, expect

from bot.models import UserProfile, utcnow

from . import test_staff_browser
from .test_inbox_browser import VIEWPORTS
from .test_staff import Live, add_complaint, add_staff
from .test_staff_browser import ARTIFACTS, new_page, on_screens, screenshot_on_failure, sign_in
from .test_staff_inbox import live  # noqa: F401  (fixture)

browser = test_staff_browser.browser  # the same fixture: headless Chromium
pytestmark = test_staff_browser.pytestmark


@on_screens()
async def test_the_notice_shows_in_the_reply_box(
    live: Live,  # noqa: F811
    browser: Browser,
    request: pytest.FixtureRequest,
    viewport: str,
) -> None:
    await add_staff(live, "amina", "agent")
    reference = await add_complaint(live, channel="whatsapp", user_id="923001110000")
    async with live.db.session() as session, session.begin():
        session.add(
            UserProfile(channel="whatsapp", user_id="923001110000", last_inbound_at=utcnow() - dt.timedelta(days=2))
        )
    phone = viewport == "phone"
    page = await new_page(browser, viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        await sign_in(page, live.url, "amina")
        await page.goto(f"{live.url}/staff/complaints/{reference}")
        notice = page.locator("#reply-form #reply-window-notice")
        await expect(notice).to_be_visible()
        await expect(notice).to_contain_text("approved template")
        await notice.scroll_into_view_if_needed()
        await page.screenshot(path=str(ARTIFACTS / f"reply-window-{viewport}.png"), full_page=True)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[viewport]["width"], f"the page scrolls sideways ({width} px)"
    except BaseException:
        await screenshot_on_failure(page, request)
        raise
    finally:
        await page.context.close()
