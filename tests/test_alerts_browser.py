"""Staff alerts in a real browser (Chromium through Playwright), on both databases: an agent sees the count in the
navigation bar, opens the Alerts page and follows an alert to its complaint. Screenshots are saved to
test-artifacts/ (alerts-*.png) for a person to look at."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from bot.core import core_on
from bot.domain.alerts import alert_round
from bot.settings import Settings
from bot.staff import accounts
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher

from .test_staff import PASSWORD, Live, add_complaint, live  # noqa: F401  (fixture)
from .test_staff_browser import ARTIFACTS, browser, new_page, pytestmark, screenshot_on_failure, sign_in  # noqa: F401

__all__ = ["browser", "live", "pytestmark"]


async def test_an_agent_follows_an_alert_to_its_complaint(
    live: Live,  # noqa: F811
    browser: Browser,  # noqa: F811
    settings: Settings,
    knowledge: tuple[KnowledgeBase, Matcher],
    request: pytest.FixtureRequest,
) -> None:
    async with live.db.session() as session:
        await accounts.create_staff(session, "ali", PASSWORD, "agent", body_id="kpitb", email="ali@kpitb.gov.pk")
        await session.commit()
    kp = {"category": "programme", "district": "mardan", "province": "Khyber Pakhtunkhwa"}
    first = await add_complaint(live, description="Stipend of the Digital Jobs programme unpaid", **kp)
    second = await add_complaint(live, description="Nobody answers at the KPITB helpline", **kp)
    assert await alert_round(core_on(settings, live.db, *knowledge)) == 2
    page = await new_page(browser, viewport={"width": 1280, "height": 800})
    suffix = "sqlite" if "sqlite" in request.node.name else "postgres"
    try:
        await sign_in(page, live.url, "ali")
        await expect(page.locator("#nav-alerts")).to_have_text("Alerts 2")
        await page.locator("#nav-alerts").click()
        await expect(page.get_by_role("heading", name="Alerts")).to_contain_text("2 new")
        await expect(page.locator("#alerts tbody tr.unread")).to_have_count(2)
        await page.screenshot(path=str(ARTIFACTS / f"alerts-page-{suffix}.png"), full_page=True)
        await page.get_by_role("link", name=f"New complaint {first}", exact=False).click()
        await expect(page.get_by_role("heading", name=first)).to_be_visible()
        await expect(page.locator("#nav-alerts")).to_have_text("Alerts")  # read now
        await page.locator("#nav-alerts").click()
        await expect(page.locator("#alerts tbody tr.unread")).to_have_count(0)
        await expect(page.locator("#alerts")).to_contain_text(second)
    finally:
        await screenshot_on_failure(page, request)
        await page.close()
