"""Files citizens send in a complaint conversation, end to end on both channels and both databases: the real app
under uvicorn takes a Telegram webhook (real python-telegram-bot against tests/fake_telegram.py) and a signed
WhatsApp webhook (tests/fake_twilio.py serves the media); the worker's round fetches each file once, from the
channel's own API host only, within the size and type limits; staff see it through an authenticated route; erasure
deletes it. A citizen who blocked the bot is marked unreachable, shown to staff, and not retried."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app import create_app
from bot.channels.media_http import fetch
from bot.channels.whatsapp import send as whatsapp_send
from bot.channels.whatsapp.config import STATUS_PATH, WEBHOOK_PATH
from bot.channels.whatsapp.render import MAX_BODY_CHARS
from bot.core import Core
from bot.db import Database
from bot.domain import conversation, media
from bot.domain.complaints import Draft, add_note, file_complaint
from bot.domain.conversation import request_handover, staff_reply
from bot.domain.media import fetch_due
from bot.domain.outbox import deliver_due, run_sender
from bot.domain.privacy import erase_user
from bot.models import Complaint, MediaBlob, MediaFile, Notification, Unreachable, utcnow
from bot.settings import Settings, get_settings
from knowledge.loader import KnowledgeBase

from .fake_telegram import FakeTelegram, wait_until
from .fake_twilio import FakeTwilio, running_fake, serve
from .test_staff import Live, signed_in
from .test_telegram import SECRET, telegram_settings
from .test_whatsapp import ACCOUNT_SID, AUTH_TOKEN, inbound, new_sid, sign, status_update, whatsapp_settings

pytestmark = pytest.mark.filterwarnings(
    "ignore:BasicAuth is deprecated:DeprecationWarning", "ignore:The 'auth' parameter is deprecated:DeprecationWarning"
)

CHAT = 4242
# Plain http, so the staff session cookie (Secure under an https PUBLIC_URL) comes back to the test's client.
PUBLIC_URL = "http://sahulat.example.org"
WA_ID = "923001234567"
# A 40x30 JPEG (made once with Chromium's screenshot), so a browser can really render the thumbnail.
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/4gHYSUNDX1BST0ZJTEUAAQEAAAHIAAAAAAQwAABtbnRyUkdCIFhZWiAH4AABAAEAAAAAAABhY3NwAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAA9tYAAQAAAADTLQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAlkZXNjAAAA8AAAACRyWFlaAAABFAAAABRnWFlaAAABKAAAABRiWFlaAAABPAAAABR3dHB0AAABUAAAABRyVFJDAAABZAAAAChnVFJDAAABZAAA"
    "AChiVFJDAAABZAAAAChjcHJ0AAABjAAAADxtbHVjAAAAAAAAAAEAAAAMZW5VUwAAAAgAAAAcAHMAUgBHAEJYWVogAAAAAAAAb6IAADj1AAADkFhZ"
    "WiAAAAAAAABimQAAt4UAABjaWFlaIAAAAAAAACSgAAAPhAAAts9YWVogAAAAAAAA9tYAAQAAAADTLXBhcmEAAAAAAAQAAAACZmYAAPKnAAANWQAA"
    "E9AAAApbAAAAAAAAAABtbHVjAAAAAAAAAAEAAAAMZW5VUwAAACAAAAAcAEcAbwBvAGcAbABlACAASQBuAGMALgAgADIAMAAxADb/2wBDAA0JCgsK"
    "CA0LCgsODg0PEyAVExISEyccHhcgLikxMC4pLSwzOko+MzZGNywtQFdBRkxOUlNSMj5aYVpQYEpRUk//2wBDAQ4ODhMREyYVFSZPNS01T09PT09P"
    "T09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT0//wAARCAAeACgDASIAAhEBAxEB/8QAFwABAQEBAAAAAAAAAAAA"
    "AAAAAAUDBv/EACMQAQAAAwgDAQAAAAAAAAAAAAABAgMEBRESExRUkjFEgsH/xAAXAQEBAQEAAAAAAAAAAAAAAAAABgQF/8QAHxEAAgAGAwEAAAAA"
    "AAAAAAAAAAECAwQTYbEFUVKR/9oADAMBAAIRAxEAPwDrhju7NyKPeBu7NyKPeCRtx9M6V2X6X0m3/wCv9fiOq33VpVdDSqST4Zscs0I4eEpQ0KakQp52"
    "S3JNOpiaxpABrMIAAAAAAB//2Q=="
)


@dataclasses.dataclass
class App:
    """The running app with both channels on, the fakes behind them, and the staff side (a Live)."""

    core: Core
    http: httpx.AsyncClient
    telegram: FakeTelegram
    twilio: FakeTwilio
    live: Live
    media_dir: Path

    async def telegram_message(self, **message: Any) -> None:
        update = self.telegram.message_update(CHAT, **message)
        response = await self.http.post(
            "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        )
        assert response.status_code == 200, response.text

    async def whatsapp_message(self, text: str = "", **extra: str) -> str:
        form = inbound(text, wa_id=WA_ID, **extra)
        headers = {"X-Twilio-Signature": sign(PUBLIC_URL + WEBHOOK_PATH, form)}
        response = await self.http.post(WEBHOOK_PATH, data=form, headers=headers)
        assert response.status_code == 200, response.text
        return response.text


@pytest.fixture
async def app(
    core: Core, settings: Settings, fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[App]:
    async with running_fake() as twilio:
        monkeypatch.setattr(whatsapp_send, "new_http_client", twilio.http_client)
        twilio.media_auth = (ACCOUNT_SID, AUTH_TOKEN)
        changed = telegram_settings(whatsapp_settings(settings), fake, "webhook").model_copy(
            update={
                "outbox_in_web": False,  # the tests run the worker's rounds themselves
                "media_dir": tmp_path / "media",
                "media_max_bytes": 4096,
                "twilio_media_base_url": twilio.base_url,
                "public_url": PUBLIC_URL,
            }
        )
        both = dataclasses.replace(core, settings=changed, channels={})
        async with serve(create_app(changed, core=both)) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
            live = Live(url=url, db=core.db, kb=core.kb)
            yield App(both, http, fake, twilio, live, tmp_path / "media")


async def updated_complaint(db: Database, kb: KnowledgeBase, channel: str, user_id: str) -> str:
    """A complaint of this citizen's whose public note went out an hour ago: their next messages go to it."""
    async with db.session() as session, session.begin():
        draft = Draft(channel=channel, user_id=user_id, category="other", district="swat", description="no internet")
        complaint = await file_complaint(session, draft)
        await add_note(session, kb, complaint, "Is it working now?", actor="staff:amna", public=True)
        await session.flush()
        note = (await session.exec(select(Notification).where(Notification.complaint_id == complaint.id))).one()
        note.status, note.sent_at, note.external_id = "sent", utcnow() - dt.timedelta(hours=1), new_sid()
        return complaint.reference


async def files(db: Database) -> list[MediaFile]:
    async with db.session() as session:
        return list(await session.exec(select(MediaFile).order_by(col(MediaFile.id))))


async def exists(path: str) -> bool:
    return await asyncio.to_thread(os.path.exists, path)


def photo_sizes(file_id: str) -> list[dict[str, Any]]:
    small = {"file_id": "thumb-" + file_id, "file_unique_id": "t", "width": 4, "height": 3}
    return [small, {"file_id": file_id, "file_unique_id": "u-" + file_id, "width": 40, "height": 30}]


# --- a photo on each channel ----------------------------------------------------------------------------------


async def test_a_photo_on_telegram_and_on_whatsapp_is_fetched_once_stored_and_shown_to_staff(app: App) -> None:
    telegram_ref = await updated_complaint(app.core.db, app.core.kb, "telegram", str(CHAT))
    whatsapp_ref = await updated_complaint(app.core.db, app.core.kb, "whatsapp", WA_ID)
    app.telegram.add_file("big-photo", JPEG)
    await app.telegram_message(photo=photo_sizes("big-photo"), caption="the router in block B")
    message_sid = "MM" + new_sid()[2:]
    url = app.twilio.add_media(message_sid, "ME" + "1" * 32, JPEG, "image/jpeg")
    twiml = await app.whatsapp_message(
        "", sid=message_sid, NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg", MessageType="image"
    )
    assert f"Added to your complaint {whatsapp_ref}" in twiml
    # The webhooks only recorded the files: nothing was fetched inside a request.
    assert app.telegram.downloads == [] and app.twilio.media_fetches == []
    assert [(f.channel, f.kind, f.status) for f in await files(app.core.db)] == [
        ("telegram", "photo", "pending"),
        ("whatsapp", "photo", "pending"),
    ]

    before = REGISTRY.get_sample_value("sahulat_media_fetches_total", {"channel": "whatsapp", "outcome": "stored"})
    assert await fetch_due(app.core) == 2
    assert await fetch_due(app.core) == 0  # fetched once: nothing is due again
    after = REGISTRY.get_sample_value("sahulat_media_fetches_total", {"channel": "whatsapp", "outcome": "stored"})
    assert (after or 0) - (before or 0) == 1
    assert app.telegram.downloads == ["documents/big-photo.bin"] and len(app.telegram.called("getFile")) == 1
    assert app.twilio.media_fetches == ["ME" + "1" * 32]
    stored = await files(app.core.db)
    for row in stored:
        assert (row.status, row.content_type, row.size, row.attempts) == ("stored", "image/jpeg", len(JPEG), 1)
        assert row.path is not None and Path(row.path).parent == app.media_dir.resolve()
        assert await asyncio.to_thread(Path(row.path).read_bytes) == JPEG

    async with signed_in(app.live, "amna", "agent") as agent:
        for reference, row in ((telegram_ref, stored[0]), (whatsapp_ref, stored[1])):
            page = await agent.get(f"/staff/complaints/{reference}")
            assert f'<img class="thumb" src="/staff/media/{row.id}"' in page.text
            served = await agent.get(f"/staff/media/{row.id}")
            assert served.status_code == 200 and served.content == JPEG
            assert served.headers["content-type"] == "image/jpeg"
            assert served.headers["content-disposition"].startswith("inline")
            assert served.headers["x-content-type-options"] == "nosniff"
            assert "no-store" in served.headers["cache-control"]
        assert (await agent.get("/staff/media/999")).status_code == 404
    async with app.live.client() as anonymous:  # never a public path
        refused = await anonymous.get(f"/staff/media/{stored[0].id}")
        assert refused.status_code == 303 and "/staff/login" in refused.headers["location"]
    async with signed_in(app.live, "vera", "viewer") as viewer:  # personal data: an agent's role is needed
        assert (await viewer.get(f"/staff/media/{stored[0].id}")).status_code == 403
        assert "hidden for your role" in (await viewer.get(f"/staff/complaints/{telegram_ref}")).text
    async with signed_in(app.live, "kamal", "agent", ("e_service",)) as other:  # another category's agent
        assert (await other.get(f"/staff/media/{stored[0].id}")).status_code == 404


async def test_a_voice_note_and_a_document_are_downloads(app: App) -> None:
    reference = await updated_complaint(app.core.db, app.core.kb, "telegram", str(CHAT))
    app.telegram.add_file("voice-1", b"OggS\x00voice")
    voice = {"file_id": "voice-1", "file_unique_id": "v", "duration": 2, "mime_type": "audio/ogg; codecs=opus"}
    await app.telegram_message(voice=voice)
    app.telegram.add_file("doc-1", b"%PDF-1.4 the receipt")
    document = {"file_id": "doc-1", "file_unique_id": "d", "mime_type": "application/pdf", "file_name": "r.pdf"}
    await app.telegram_message(document=document, caption="the receipt")
    assert await fetch_due(app.core) == 2
    row, pdf = await files(app.core.db)
    assert (row.kind, row.content_type, pdf.kind, pdf.content_type) == (
        "voice",
        "audio/ogg",
        "document",
        "application/pdf",
    )
    async with signed_in(app.live, "amna", "agent") as agent:
        page = await agent.get(f"/staff/complaints/{reference}")
        assert f'href="/staff/media/{row.id}" download>Download voice, audio/ogg' in page.text
        assert f'href="/staff/media/{pdf.id}" download>Download document, application/pdf, 20 bytes' in page.text
        served = await agent.get(f"/staff/media/{row.id}")
        assert served.headers["content-disposition"] == f'attachment; filename="voice-{row.id}.ogg"'
        served = await agent.get(f"/staff/media/{pdf.id}")
        assert served.content == b"%PDF-1.4 the receipt" and served.headers["content-type"] == "application/pdf"
        assert served.headers["content-disposition"] == f'attachment; filename="document-{pdf.id}.pdf"'


async def test_with_media_store_database_the_bytes_live_in_the_database(app: App) -> None:
    """For processes that share no disk (the Procfile's web and worker): any web process serves what a worker
    fetched, and erasure removes the bytes with the row."""
    reference = await updated_complaint(app.core.db, app.core.kb, "whatsapp", WA_ID)
    url = app.twilio.add_media("MM" + new_sid()[2:], "ME" + "7" * 32, JPEG, "image/jpeg")
    await app.whatsapp_message(NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    worker = dataclasses.replace(app.core, settings=app.core.settings.model_copy(update={"media_store": "database"}))
    assert await fetch_due(worker) == 1
    [row] = await files(app.core.db)
    assert (row.status, row.path) == ("stored", None) and not app.media_dir.exists()
    async with signed_in(app.live, "amna", "agent") as agent:
        assert f'src="/staff/media/{row.id}"' in (await agent.get(f"/staff/complaints/{reference}")).text
        served = await agent.get(f"/staff/media/{row.id}")
        assert served.status_code == 200 and served.content == JPEG and served.headers["content-type"] == "image/jpeg"
        assert served.headers["content-disposition"] == f'inline; filename="photo-{row.id}.jpg"'
    async with app.core.db.session() as session, session.begin():
        await erase_user(session, "whatsapp", WA_ID, key="k")
    async with app.core.db.session() as session:
        assert await session.get(MediaBlob, row.id) is None and await session.get(MediaFile, row.id) is None


# --- what is refused ------------------------------------------------------------------------------------------


async def test_a_media_url_on_another_host_is_refused_without_a_request(app: App) -> None:
    reference = await updated_complaint(app.core.db, app.core.kb, "whatsapp", WA_ID)
    hits: list[str] = []

    async def elsewhere(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(JPEG, media_type="image/jpeg")

    async with serve(Starlette(routes=[Route("/{path:path}", elsewhere)])) as other:
        # a URL naming another host (the same address on another port counts as another host)
        await app.whatsapp_message(NumMedia="1", MediaUrl0=f"{other}/evil.jpg", MediaContentType0="image/jpeg")
        # and a URL on the Twilio host that redirects elsewhere
        url = app.twilio.add_media("MM" + new_sid()[2:], "ME" + "2" * 32, JPEG, "image/jpeg")
        app.twilio.media_redirects["ME" + "2" * 32] = f"{other}/redirected.jpg"
        await app.whatsapp_message(NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
        assert await fetch_due(app.core) == 0
    assert hits == []
    rows = await files(app.core.db)
    assert [row.status for row in rows] == ["refused", "refused"]
    assert all("not on the" in (row.error or "") and "API host" in (row.error or "") for row in rows)
    assert await fetch_due(app.core, now=utcnow() + dt.timedelta(days=2)) == 0  # refused for good
    assert hits == [] and list(app.media_dir.glob("*")) == []
    async with signed_in(app.live, "amna", "agent") as agent:
        page = await agent.get(f"/staff/complaints/{reference}")
        assert "not stored (refused: the media URL is not on the Twilio API host)" in page.text


async def test_twilios_redirect_to_its_media_storage_is_followed_without_the_credentials(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    await updated_complaint(app.core.db, app.core.kb, "whatsapp", WA_ID)
    seen: list[str | None] = []

    async def storage(request: Request) -> Response:
        seen.append(request.headers.get("authorization"))
        return Response(JPEG, media_type="image/jpeg")

    async with serve(Starlette(routes=[Route("/{path:path}", storage)])) as cdn:
        channel = app.core.channels["whatsapp"]
        changed = app.core.settings.model_copy(update={"twilio_media_redirect_origins": f"https://cdn.example,{cdn}"})
        monkeypatch.setattr(channel, "settings", changed)
        url = app.twilio.add_media("MM" + new_sid()[2:], "ME" + "8" * 32, b"", "image/jpeg")
        app.twilio.media_redirects["ME" + "8" * 32] = f"{cdn}/signed-for-4-hours.jpg"
        await app.whatsapp_message(NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
        assert await fetch_due(app.core) == 1
        assert seen == [None]  # Twilio's credentials went to the Twilio API host only
        # A media URL that names the storage itself (not reached through Twilio's redirect) is still refused.
        await app.whatsapp_message(NumMedia="1", MediaUrl0=f"{cdn}/direct.jpg", MediaContentType0="image/jpeg")
        assert await fetch_due(app.core) == 0 and seen == [None]
    stored, refused = await files(app.core.db)
    assert stored.status == "stored" and stored.path
    assert await asyncio.to_thread(Path(stored.path).read_bytes) == JPEG
    assert refused.status == "refused"


async def test_the_fetch_refuses_another_host_before_any_request(app: App) -> None:
    from bot.channels.base import MediaError

    with pytest.raises(MediaError) as refused:
        await fetch("https://example.org/x.jpg", allowed=app.telegram.base_url, max_bytes=10)
    assert refused.value.refused and "API host" in str(refused.value)


async def test_an_oversize_file_is_refused_and_recorded(app: App) -> None:
    reference = await updated_complaint(app.core.db, app.core.kb, "telegram", str(CHAT))
    await updated_complaint(app.core.db, app.core.kb, "whatsapp", WA_ID)
    big = b"\xff\xd8\xff" + b"x" * 5000  # over MEDIA_MAX_BYTES (4096 here)
    app.telegram.add_file("huge", big)
    await app.telegram_message(photo=photo_sizes("huge"))
    url = app.twilio.add_media("MM" + new_sid()[2:], "ME" + "3" * 32, big, "image/jpeg")
    await app.whatsapp_message(NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert await fetch_due(app.core) == 0
    rows = await files(app.core.db)
    assert [(row.status, row.path) for row in rows] == [("refused", None), ("refused", None)]
    assert rows[0].error == "too large: 5003 bytes, over 4096"  # Telegram said how large: not even downloaded
    assert app.telegram.downloads == []
    assert rows[1].error is not None and rows[1].error.startswith("too large")
    assert list(app.media_dir.glob("*")) == []
    async with signed_in(app.live, "amna", "agent") as agent:
        assert (
            "not stored (too large: 5003 bytes, over 4096)" in (await agent.get(f"/staff/complaints/{reference}")).text
        )


async def test_a_type_not_allowed_or_an_image_that_is_not_one_is_refused(app: App) -> None:
    await updated_complaint(app.core.db, app.core.kb, "whatsapp", WA_ID)
    url = app.twilio.add_media("MM" + new_sid()[2:], "ME" + "4" * 32, b"<html><script>", "text/html")
    await app.whatsapp_message(NumMedia="1", MediaUrl0=url, MediaContentType0="text/html")
    fake_image = app.twilio.add_media("MM" + new_sid()[2:], "ME" + "5" * 32, b"<svg onload=x>", "image/png")
    await app.whatsapp_message(NumMedia="1", MediaUrl0=fake_image, MediaContentType0="image/png")
    assert await fetch_due(app.core) == 0
    errors = [row.error for row in await files(app.core.db)]
    assert errors == [
        "refused: type text/html is not allowed (MEDIA_CONTENT_TYPES)",
        "refused: the content is not a image/png image",
    ]


async def test_a_failing_fetch_is_retried_with_backoff_then_marked_failed_without_blocking(app: App) -> None:
    await updated_complaint(app.core.db, app.core.kb, "telegram", str(CHAT))
    app.telegram.fail("getFile", 502, "Bad Gateway")
    await app.telegram_message(photo=photo_sizes("later"), caption="here")
    now = utcnow()
    for attempt in range(1, media.MAX_ATTEMPTS + 1):
        assert await fetch_due(app.core, now=now) == 0
        [row] = await files(app.core.db)
        assert row.attempts == attempt
        if attempt < media.MAX_ATTEMPTS:
            assert row.status == "pending" and row.next_attempt_at == now + media.backoff(attempt)
            assert await fetch_due(app.core, now=now) == 0  # not due again before its backoff
            assert (await files(app.core.db))[0].attempts == attempt
            now = row.next_attempt_at
    assert (row.status, row.error) == ("failed", "Telegram getFile: NetworkError")
    assert await fetch_due(app.core, now=now + dt.timedelta(days=30)) == 0
    assert len(app.telegram.called("getFile")) == media.MAX_ATTEMPTS
    # Meanwhile the citizen's messages went on being handled: the bot confirmed the message.
    assert any("Added to your complaint" in text for text in app.telegram.sent_texts())


async def test_a_slow_file_does_not_hold_up_the_notifications(app: App) -> None:
    """The worker fetches beside its sending: while Telegram takes its time over a file, a staff reply goes out."""
    reference = await updated_complaint(app.core.db, app.core.kb, "telegram", str(CHAT))
    app.telegram.hanging["getFile"] = asyncio.Event()
    await app.telegram_message(photo=photo_sizes("slow"))
    stop = asyncio.Event()
    worker = asyncio.create_task(run_sender(app.core, stop, 0.05))
    try:
        await app.telegram.wait_calls("getFile")  # the worker is fetching, and Telegram does not answer
        async with app.core.db.session() as session, session.begin():
            complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
            await staff_reply(
                session, app.core.kb, complaint=complaint, handover=None, text="On our way", username="amna"
            )
        # well before the Bot API client would give up on getFile (15 s)
        sent = lambda: any("On our way" in text for text in app.telegram.sent_texts())  # noqa: E731
        await wait_until(sent, within=5, what="the staff reply to go out")
        [row] = await files(app.core.db)
        assert row.status == "fetching"  # still hanging
    finally:
        app.telegram.hanging["getFile"].set()
        stop.set()
        await worker


async def test_a_file_whose_fetch_recovers_is_stored_on_the_next_try(app: App) -> None:
    await updated_complaint(app.core.db, app.core.kb, "telegram", str(CHAT))
    app.telegram.fail("getFile", 502, "Bad Gateway")
    await app.telegram_message(photo=photo_sizes("flaky"))
    assert await fetch_due(app.core) == 0
    app.telegram.failures.clear()
    app.telegram.add_file("flaky", JPEG)
    assert await fetch_due(app.core, now=utcnow() + dt.timedelta(minutes=1)) == 1
    [row] = await files(app.core.db)
    assert (row.status, row.attempts, row.error) == ("stored", 2, None)


# --- erasure --------------------------------------------------------------------------------------------------


@pytest.fixture
def media_dir_setting(app: App, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MEDIA_DIR as the process erasing a citizen reads it (bot/settings.py), pointing at the test's folder."""
    monkeypatch.setenv("MEDIA_DIR", str(app.media_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("media_dir_setting")
async def test_erasing_the_citizen_deletes_their_files_and_rows(app: App) -> None:
    await updated_complaint(app.core.db, app.core.kb, "telegram", str(CHAT))
    app.telegram.add_file("mine", JPEG)
    await app.telegram_message(photo=photo_sizes("mine"))
    async with app.core.db.session() as session, session.begin():  # a handover about something new, with a photo
        await request_handover(session, "whatsapp", WA_ID, language="en", display_name=None, complaint=None)
    url = app.twilio.add_media("MM" + new_sid()[2:], "ME" + "6" * 32, JPEG, "image/jpeg")
    await app.whatsapp_message("see this", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert await fetch_due(app.core) == 2
    telegram_row, whatsapp_row = await files(app.core.db)
    assert telegram_row.event_id is not None and whatsapp_row.message_id is not None
    assert telegram_row.path and whatsapp_row.path
    # a copy a worker killed between writing and recording it left behind, which no row points at
    orphan = app.media_dir / f"{telegram_row.id}-left-by-a-killed-worker"
    await asyncio.to_thread(orphan.write_bytes, JPEG)
    async with signed_in(app.live, "amna", "agent") as agent:
        assert (await agent.get(f"/staff/media/{whatsapp_row.id}")).status_code == 200
        async with app.core.db.session() as session, session.begin():
            await erase_user(session, "telegram", str(CHAT), key="k")
        assert not await exists(telegram_row.path) and await exists(whatsapp_row.path)
        assert not await exists(str(orphan))
        assert [row.id for row in await files(app.core.db)] == [whatsapp_row.id]
        assert (await agent.get(f"/staff/media/{telegram_row.id}")).status_code == 404
        # the citizen asks on WhatsApp itself (the privacy flow), as a citizen would
        await app.whatsapp_message("back to the bot")
        assert "1 file(s) you sent staff in conversations" in await app.whatsapp_message("my data")
        await app.whatsapp_message("delete my data")
        await app.whatsapp_message("1")  # the first option: erase
        assert (await agent.get(f"/staff/media/{whatsapp_row.id}")).status_code == 404
    assert await files(app.core.db) == [] and list(app.media_dir.glob("*")) == []


# --- long staff replies ---------------------------------------------------------------------------------------


def long_reply() -> str:
    """A staff reply as long as the dashboard takes, in numbered words (so order and completeness show)."""
    words = " ".join(f"w{n:04d}" for n in range(1, 1000))
    return words[: conversation.MAX_REPLY_CHARS].rstrip()


async def test_a_long_staff_reply_arrives_whole_and_in_order_on_both_channels(app: App) -> None:
    """Longer than a WhatsApp message: split as the bot's replies are (text inside the 24-hour window; outside it a
    reply waits for the citizen (tests/test_reply_window.py), and a public note goes as one template per part), never
    cut; on Telegram it fits one message and arrives whole."""
    text = long_reply()
    outside = "923009999999"  # never wrote: outside the 24-hour window
    for channel, user_id in (("whatsapp", WA_ID), ("whatsapp", outside), ("telegram", str(CHAT))):
        reference = await updated_complaint(app.core.db, app.core.kb, channel, user_id)
        async with app.core.db.session() as session, session.begin():
            complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
            if user_id == outside:
                await add_note(session, app.core.kb, complaint, text, actor="staff:amna", public=True)
            else:
                await staff_reply(session, app.core.kb, complaint=complaint, handover=None, text=text, username="amna")
    await app.whatsapp_message("hello")  # WA_ID inside the window: its held reply goes as text
    while await deliver_due(app.core):  # the invitation, then the held reply once WA_ID has written
        pass
    async with app.core.db.session() as session:
        queued = list(await session.exec(select(Notification).where(Notification.event_id.is_not(None))))  # type: ignore[union-attr]
    full = {n.user_id: n.text for n in queued}
    assert all(n.status == "sent" for n in queued)
    assert full[WA_ID].endswith(text) and len(full[WA_ID]) > MAX_BODY_CHARS
    inside = [r.form for r in app.twilio.requests if r.form["To"] == f"whatsapp:+{WA_ID}" and "Body" in r.form]
    bodies = [form["Body"] for form in inside][-2:]  # after the invitation to reply: the reply, in two parts
    assert all(len(body) <= MAX_BODY_CHARS for body in bodies)
    assert " ".join(bodies) == full[WA_ID]
    templates = [r.form for r in app.twilio.requests if r.form["To"] == f"whatsapp:+{outside}"]
    variables = [json.loads(form["ContentVariables"])["1"] for form in templates]
    assert len(variables) == 2 and all(len(v) <= MAX_BODY_CHARS for v in variables)
    assert " ".join(variables) == " / ".join(line.strip() for line in full[outside].splitlines() if line.strip())
    assert app.telegram.sent_texts()[-1] == full[str(CHAT)]


# --- unreachable citizens -------------------------------------------------------------------------------------


async def test_a_citizen_who_blocked_the_bot_is_marked_unreachable_and_not_retried(app: App) -> None:
    reference = await updated_complaint(app.core.db, app.core.kb, "telegram", str(CHAT))
    async with app.core.db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await staff_reply(session, app.core.kb, complaint=complaint, handover=None, text="Still down?", username="amna")
    app.telegram.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert await deliver_due(app.core) == 0
    assert await deliver_due(app.core, now=utcnow() + dt.timedelta(days=3)) == 0  # never due again
    assert len(app.telegram.called("sendMessage")) == 1
    async with app.core.db.session() as session:
        [queued] = list(await session.exec(select(Notification).where(Notification.status != "sent")))
        mark = await session.get(Unreachable, ("telegram", str(CHAT)))
    assert (queued.status, queued.attempts) == ("failed", 1) and "blocked" in (queued.last_error or "")
    assert mark is not None and "bot was blocked by the user" in mark.reason
    async with signed_in(app.live, "amna", "agent") as agent:
        page = await agent.get(f"/staff/complaints/{reference}")
        assert 'id="unreachable"' in page.text and "bot was blocked by the user" in page.text
        # The citizen unblocks the bot and writes again: reachable, the notice goes.
        app.telegram.failures.clear()
        await app.telegram_message(text="I unblocked you")
        assert 'id="unreachable"' not in (await agent.get(f"/staff/complaints/{reference}")).text


async def test_a_whatsapp_recipient_who_opted_out_is_marked_unreachable(app: App) -> None:
    reference = await updated_complaint(app.core.db, app.core.kb, "whatsapp", WA_ID)
    await app.whatsapp_message("hello")  # inside the 24-hour window
    async with app.core.db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await staff_reply(session, app.core.kb, complaint=complaint, handover=None, text="Fixed?", username="amna")
    app.twilio.mode, app.twilio.error_status, app.twilio.error_code = "error", 400, 21610
    assert await deliver_due(app.core) == 0
    assert await deliver_due(app.core, now=utcnow() + dt.timedelta(days=3)) == 0
    assert len(app.twilio.requests) == 1
    async with app.core.db.session() as session:
        mark = await session.get(Unreachable, ("whatsapp", WA_ID))
    assert mark is not None and "21610" in mark.reason


async def test_a_whatsapp_delivery_failure_reported_later_marks_the_recipient_unreachable(app: App) -> None:
    """WhatsApp mostly reports an unreachable recipient after accepting the message: in the status callback."""
    reference = await updated_complaint(app.core.db, app.core.kb, "whatsapp", WA_ID)
    await app.whatsapp_message("hello")
    async with app.core.db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await staff_reply(session, app.core.kb, complaint=complaint, handover=None, text="Fixed?", username="amna")
    assert await deliver_due(app.core) == 1
    [accepted] = app.twilio.answered()
    assert accepted.sid is not None
    for status, code in (("sent", None), ("undelivered", "63016")):  # outside the window: not a blocked recipient
        form = status_update(accepted.sid, status, code)
        response = await app.http.post(
            STATUS_PATH, data=form, headers={"X-Twilio-Signature": sign(PUBLIC_URL + STATUS_PATH, form)}
        )
        assert response.status_code == 200
    async with app.core.db.session() as session:
        assert await session.get(Unreachable, ("whatsapp", WA_ID)) is None
    await app.whatsapp_message("hello again")
    async with app.core.db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await staff_reply(session, app.core.kb, complaint=complaint, handover=None, text="Still?", username="amna")
    assert await deliver_due(app.core) == 1
    second = app.twilio.answered()[-1]
    assert second.sid is not None
    form = status_update(second.sid, "undelivered", "63024")
    headers = {"X-Twilio-Signature": sign(PUBLIC_URL + STATUS_PATH, form)}
    assert (await app.http.post(STATUS_PATH, data=form, headers=headers)).status_code == 200
    async with app.core.db.session() as session:
        mark = await session.get(Unreachable, ("whatsapp", WA_ID))
    assert mark is not None and "63024" in mark.reason


async def test_a_reply_in_an_erased_citizens_conversation_is_refused(app: App) -> None:
    """A conversation about something new is erased with the citizen: the reply gets a clear 404, nothing queued."""
    async with app.core.db.session() as session, session.begin():
        handover = await request_handover(
            session, "telegram", str(CHAT), language="en", display_name=None, complaint=None
        )
    async with app.core.db.session() as session, session.begin():
        await erase_user(session, "telegram", str(CHAT), key="k")
    async with signed_in(app.live, "amna", "agent") as agent:
        from .test_staff import token

        csrf = await token(agent)
        refused = await agent.post(f"/staff/inbox/{handover.id}/reply", data={"csrf": csrf, "text": "Hello?"})
        assert refused.status_code == 404 and "erased at the citizen&#39;s request" in refused.text
    async with app.core.db.session() as session:
        assert list(await session.exec(select(Notification))) == []


def test_both_channels_read_voice_notes_as_voice() -> None:
    from starlette.datastructures import FormData

    from bot.channels.telegram.parse import to_incoming
    from bot.channels.whatsapp.parse import parse_incoming

    update = {
        "update_id": 9,
        "message": {
            "message_id": 3,
            "chat": {"id": CHAT, "type": "private"},
            "voice": {"file_id": "v1", "file_unique_id": "u", "duration": 3, "mime_type": "audio/ogg"},
        },
    }
    telegram = to_incoming(update)
    assert telegram is not None and [(m.kind, m.ref, m.content_type) for m in telegram.media] == [
        ("voice", "v1", "audio/ogg")
    ]
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    form = FormData(
        [("MessageSid", "MM" + "1" * 32), ("From", f"whatsapp:+{WA_ID}"), ("WaId", WA_ID), ("NumMedia", "1")]
        + [("MediaUrl0", url), ("MediaContentType0", "audio/ogg")]
    )
    assert [(m.kind, m.ref) for m in parse_incoming(form).media] == [("voice", url)]
