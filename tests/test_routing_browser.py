"""Routing in a real browser (Chromium through Playwright), on both databases: an admin adds a body and a rule,
a complaint filed afterwards is routed to the body, and the list and its page show its due day and state.
Screenshots of the pages are saved to test-artifacts/ (routing-*.png) for a person to look at."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.async_api import Browser, expect

from .test_staff import PASSWORD, Live, add_complaint, add_staff, live  # noqa: F401  (fixture)
from .test_staff_browser import ARTIFACTS, browser, new_page, pytestmark, screenshot_on_failure, sign_in  # noqa: F401

__all__ = ["browser", "live", "pytestmark"]


async def test_admin_routes_a_category_to_a_new_body(
    live: Live,  # noqa: F811
    browser: Browser,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    await add_staff(live, "amna", "admin")
    page = await new_page(browser, viewport={"width": 1280, "height": 900})
    suffix = "sqlite" if "sqlite" in request.node.name else "postgres"
    try:
        await sign_in(page, live.url, "amna")
        await page.get_by_role("link", name="Routing").click()
        await expect(page.get_by_role("heading", name="Routing", exact=True)).to_be_visible()

        body = page.locator("#add-body")
        await body.get_by_label("Code").fill("sindh_itb")
        await body.get_by_label("Name in English").fill("Sindh IT Board")
        await body.get_by_label("Name in Urdu").fill("سندھ آئی ٹی بورڈ")
        await body.get_by_label("Province").select_option("Sindh")
        await body.get_by_label("Alerts e-mail").fill("complaints@example.org")
        await body.get_by_role("button", name="Add body").click()
        await expect(page.get_by_role("status")).to_contain_text("Body added")
        await expect(page.locator("#body-sindh_itb")).to_contain_text("Sindh IT Board")

        rule = page.locator("#add-rule")
        await rule.locator('select[name="category"]').select_option("programme")
        await rule.locator('select[name="province"]').select_option("Sindh")
        await rule.locator('select[name="body"]').select_option("sindh_itb")
        await rule.get_by_role("button", name="Add rule").click()
        await expect(page.get_by_role("status")).to_contain_text("Rule added")
        await expect(page.locator("#rules")).to_contain_text("Sindh IT Board")
        await page.screenshot(path=str(ARTIFACTS / f"routing-page-{suffix}.png"), full_page=True)

        # A complaint about a programme in Karachi, filed 26 days ago, goes to the new body; it is due in days.
        filed = dt.datetime.now(dt.UTC) - dt.timedelta(days=26)
        reference = await add_complaint(
            live, category="programme", district="karachi", province="Sindh", description="Stipend unpaid", now=filed
        )
        await page.get_by_role("link", name="Complaints").click()
        await page.get_by_label("Body", exact=True).select_option("sindh_itb")
        await page.get_by_role("button", name="Filter").click()
        row = page.locator("table.list tbody tr", has=page.get_by_role("link", name=reference))
        await expect(row).to_contain_text("Sindh IT Board")
        await expect(row.locator(".due")).to_have_text(re.compile(r"^\d{4}-\d{2}-\d{2}$"))
        await expect(row.locator(".due-state")).to_have_text(re.compile("On time|Due soon|Overdue"))
        await page.screenshot(path=str(ARTIFACTS / f"routing-list-{suffix}.png"), full_page=True)

        await page.get_by_role("link", name=reference).click()
        await expect(page.locator("#body")).to_have_text("Sindh IT Board")
        await expect(page.locator("#due")).to_contain_text(re.compile(r"\d{4}-\d{2}-\d{2}"))
        await page.screenshot(path=str(ARTIFACTS / f"routing-complaint-{suffix}.png"), full_page=True)

        # One filed two months ago is overdue: on the Overdue page, and red on the list.
        late = await add_complaint(
            live,
            category="programme",
            district="karachi",
            province="Sindh",
            description="Old",
            now=filed - dt.timedelta(days=40),
        )
        await page.get_by_role("link", name="Overdue").click()
        await expect(page.locator("#overdue-count")).to_have_text("1")
        await expect(page.locator("#overdue")).to_contain_text(late)
        await page.screenshot(path=str(ARTIFACTS / f"routing-overdue-{suffix}.png"), full_page=True)
    except BaseException:
        await screenshot_on_failure(page, request)
        raise
    finally:
        await page.context.close()
