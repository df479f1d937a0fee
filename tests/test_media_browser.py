"""A photo a citizen sent, in a real browser (Debian's Chromium through Playwright), on a desktop and a 375 px
phone: the agent opens the complaint and the thumbnail renders (the image really loaded through the
authenticated staff route), with the notice that the citizen blocked the bot. Screenshots go to
test-artifacts/media-<viewport>.png."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from sqlmodel import select

from bot.domain.conversation import add_citizen_message
from bot.models import Complaint, MediaFile, utcnow
from bot.storage import reachability

from . import test_staff_browser
from .test_conversation_media import JPEG
from .test_inbox_browser import VIEWPORTS
from .test_staff import Live, add_complaint, add_staff
from .test_staff_browser import ARTIFACTS, new_page, on_screens, screenshot_on_failure, sign_in
from .test_staff_inbox import live  # noqa: F401  (fixture)

browser = test_staff_browser.browser  # the same fixture: headless Chromium
pytestmark = test_staff_browser.pytestmark


async def stored_photo(app: Live, reference: str, folder: Path) -> int:
    """The citizen's message with a photo, as the worker leaves it once fetched (tests/test_conversation_media.py
    fetches through the channels)."""
    path = folder / "photo"
    await asyncio.to_thread(path.write_bytes, JPEG)
    async with app.db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        photo = {"kind": "photo", "ref": "file-1", "content_type": "image/jpeg"}
        await add_citizen_message(session, complaint, "the router in block B", [photo])
        video = {"kind": "document", "ref": "file-2", "content_type": "video/mp4"}
        await add_citizen_message(session, complaint, "and a video of it", [video])
        row, big = list(await session.exec(select(MediaFile).order_by(MediaFile.id)))  # type: ignore[arg-type]
        big.status, big.error = "refused", "too large: 48211563 bytes, over 10485760"
        session.add(big)
        row.status, row.path, row.size, row.content_type = "stored", str(path), len(JPEG), "image/jpeg"
        row.fetched_at = utcnow()
        session.add(row)
        reason = "Telegram: Forbidden: Forbidden: bot was blocked by the user"
        await reachability.mark(session, "telegram", "4242", reason, utcnow())
        assert row.id is not None
        return row.id


@on_screens()
async def test_the_thumbnail_of_a_citizens_photo_renders_for_an_agent(
    live: Live,  # noqa: F811
    browser: Browser,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    viewport: str,
) -> None:
    await add_staff(live, "amina", "agent")
    reference = await add_complaint(live, category="other")
    ident = await stored_photo(live, reference, tmp_path)
    phone = viewport == "phone"
    page = await new_page(browser, viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone)
    try:
        await sign_in(page, live.url, "amina")
        await page.goto(f"{live.url}/staff/complaints/{reference}#conversation")
        thumb = page.locator("#chat img.thumb")
        await expect(thumb).to_have_attribute("src", f"/staff/media/{ident}")
        await expect(thumb).to_be_visible()
        await page.wait_for_function("() => document.querySelector('#chat img.thumb').complete")
        assert await thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [40, 30]
        await expect(page.locator("#unreachable")).to_contain_text("bot was blocked by the user")
        await expect(page.locator("#chat .file-refused")).to_contain_text("not stored (too large")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.locator("#conversation").screenshot(path=str(ARTIFACTS / f"media-{viewport}.png"))
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[viewport]["width"], f"the page scrolls sideways ({width} px)"
    except BaseException:
        await screenshot_on_failure(page, request)
        raise
