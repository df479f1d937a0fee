"""The Telegram channel against a fake Bot API server, over real HTTP, in polling and in webhook mode.

The fake (tests/fake_telegram.py) runs on 127.0.0.1; the real PTB Application is pointed at it through
TELEGRAM_API_BASE_URL, and the real app (bot.app.create_app) runs under uvicorn. Storage tests run on SQLite
and PostgreSQL through the `core` fixture.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from telegram import Update

from bot.app import create_app
from bot.channels.base import SendError, Sent
from bot.channels.telegram import create, status_line
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.client import file_base_url
from bot.channels.telegram.config import SECRET_HEADER
from bot.channels.telegram.delivery import DownloadError
from bot.channels.telegram.parse import to_incoming
from bot.channels.telegram.render import MAX_TEXT, split_text
from bot.core import Core
from bot.settings import Settings
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming, Option, Outcome, Reply

from .conftest import sahulat, scalar
from .fake_telegram import TOKEN, FakeTelegram, Server, free_port, parse_html, wait_until

SECRET = "s3cret_Token-for-tests"
CHAT = 4242


class ScriptedDispatcher(Dispatcher):
    """The real dispatcher, plus canned outcomes for what no knowledge-base answer produces (a 9,000-character
    reply, an echo of the user's text), and a switch that makes the database look down."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scripted: dict[str, Outcome] = {}
        self.outage: Exception | None = None

    async def handle(self, msg: Incoming, payload: str | None = None) -> Outcome:
        if self.outage is not None:
            raise self.outage
        outcome = await super().handle(msg, payload)  # claims the message id either way, so de-duplication is real
        if outcome.duplicate:
            return outcome
        if msg.text.startswith("echo "):
            return Outcome(replies=[Reply(f"You said: {msg.text[5:]}")])
        return self.scripted.get(msg.text, outcome)


def telegram_settings(settings: Settings, fake: FakeTelegram, mode: str) -> Settings:
    return settings.model_copy(
        update={
            "telegram_bot_token": TOKEN,
            "telegram_api_base_url": fake.base_url,
            "telegram_mode": mode,
            "telegram_webhook_secret": SECRET,
            "public_url": "https://sahulat.example.org",
        }
    )


def telegram_core(core: Core, settings: Settings) -> Core:
    dispatcher = ScriptedDispatcher(core.db, core.kb, core.matcher)
    return Core(settings=settings, db=core.db, kb=core.kb, matcher=core.matcher, dispatcher=dispatcher)


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Run the ASGI app (lifespan included) under uvicorn on a free port, in this event loop."""
    port = free_port()
    server = Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), what="the app to start")
    assert server.started, "the app failed to start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


@dataclass
class Harness:
    mode: str
    fake: FakeTelegram
    core: Core
    http: httpx.AsyncClient

    @property
    def dispatcher(self) -> ScriptedDispatcher:
        assert isinstance(self.core.dispatcher, ScriptedDispatcher)
        return self.core.dispatcher

    async def deliver(self, update: dict[str, Any], *, again: bool = False) -> None:
        """Hand the update to the bot the way Telegram would in this mode (`again`: a redelivery)."""
        if self.mode == "polling":
            self.fake.push(update, redeliver=again)
        else:
            response = await self.http.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
            assert response.status_code == 200, response.text

    async def exchange(self, update: dict[str, Any], expect: str) -> list[dict[str, Any]]:
        """Deliver an update; the messages sent from then until one containing `expect` has arrived."""
        before = len(self.fake.called("sendMessage"))
        await self.deliver(update)
        await wait_until(
            lambda: any(expect in text for text in self.fake.sent_texts()[before:]), what=f"a reply with {expect!r}"
        )
        return self.fake.called("sendMessage")[before:]


@pytest.fixture(params=["polling", "webhook"])
async def harness(
    request: pytest.FixtureRequest, fake: FakeTelegram, core: Core, settings: Settings
) -> AsyncIterator[Harness]:
    tg_core = telegram_core(core, telegram_settings(settings, fake, request.param))
    async with serve(create_app(tg_core.settings, core=tg_core)) as url, httpx.AsyncClient(base_url=url) as http:
        if request.param == "polling":
            await fake.wait_calls("getUpdates")
        yield Harness(request.param, fake, tg_core, http)


@pytest.fixture
async def webhook(fake: FakeTelegram, core: Core, settings: Settings) -> AsyncIterator[Harness]:
    tg_core = telegram_core(core, telegram_settings(settings, fake, "webhook"))
    async with serve(create_app(tg_core.settings, core=tg_core)) as url, httpx.AsyncClient(base_url=url) as http:
        yield Harness("webhook", fake, tg_core, http)


def labels(sent: dict[str, Any]) -> list[str]:
    return [button["text"] for row in sent["reply_markup"]["inline_keyboard"] for button in row]


# --- both modes, over HTTP ---------------------------------------------------------------------------------------


async def test_start_shows_the_menu_with_a_keyboard(harness: Harness) -> None:
    fake = harness.fake
    [sent] = await harness.exchange(fake.message_update(CHAT, "/start"), "Assalam o Alaikum")
    assert sent["chat_id"] == CHAT and sent["parse_mode"] == "HTML"
    assert labels(sent)[:3] == ["Technology parks", "Registration fees and exemptions", "Programmes"]
    assert all(len(b["callback_data"].encode()) <= 64 for row in sent["reply_markup"]["inline_keyboard"] for b in row)
    assert fake.called("getMe")
    if harness.mode == "polling":  # no public address: the webhook is cleared and the command menu registered here
        assert fake.called("deleteWebhook")
        commands = [c["command"] for c in fake.called("setMyCommands")[0]["commands"]]
        assert commands[:2] == ["start", "menu"] and {"fees", "parks", "complain", "cancel"} <= set(commands)
    else:  # webhook workers leave the webhook and the command menu to `sahulat telegram set-webhook`
        assert not fake.called("setWebhook") and not fake.called("setMyCommands")


async def test_a_fee_question_is_answered_with_its_source(harness: Harness) -> None:
    await harness.exchange(harness.fake.message_update(CHAT, "startup registration fee"), "Rs 1,000")
    text = harness.fake.sent_texts()[-1]
    assert "Rs 1,000" in text and "Source:" in text
    assert "MoITT secretary's review meeting" in text  # the database/knowledge value arrives intact


async def test_the_menu_fee_path_by_buttons(harness: Harness) -> None:
    fake = harness.fake
    [menu] = await harness.exchange(fake.message_update(CHAT, "/start"), "pick a topic")
    [who] = await harness.exchange(fake.press(CHAT, menu, "Registration fees and exemptions"), "Who is registering")
    assert fake.called("answerCallbackQuery"), "the button press is answered"
    edited = fake.called("editMessageText")[-1]
    assert edited["chat_id"] == CHAT and "reply_markup" not in edited  # the pressed keyboard is removed
    assert "Registration fees and exemptions" in parse_html(edited["text"])  # and the choice shown
    assert labels(who) == ["A startup", "A company", "A freelancer or someone else"]
    await harness.exchange(fake.press(CHAT, who, "A startup"), "Which city")
    answer = await harness.exchange(fake.message_update(CHAT, "Mardan"), "Rs 1,000")
    text = "\n".join(parse_html(sent["text"]) for sent in answer)
    assert "Rs 1,000" in text and "Source:" in text


async def test_the_same_update_twice_gets_one_reply(harness: Harness) -> None:
    fake = harness.fake
    update = fake.message_update(CHAT, "/start")
    await harness.exchange(update, "Assalam o Alaikum")
    await harness.deliver(update, again=True)
    # Replies to one chat go out in order, so once the next update's reply is here, a second reply to the
    # redelivered update would have been too.
    await harness.exchange(fake.message_update(CHAT, "startup registration fee"), "Rs 1,000")
    assert sum("Assalam o Alaikum" in text for text in fake.sent_texts()) == 1
    assert await scalar(harness.core.db, "SELECT count(*) FROM processed_message WHERE channel = 'telegram'") == 2


async def test_a_reply_over_4096_characters_arrives_in_parts(harness: Harness) -> None:
    paragraphs = [f"Paragraph {i}: " + "lorem ipsum " * 60 for i in range(14)]
    long = "\n\n".join(paragraphs)
    assert len(long) > 2 * MAX_TEXT
    harness.dispatcher.scripted["long please"] = Outcome(
        replies=[Reply(long, (Option("Main menu", "cmd:menu"),))], intent="answer"
    )
    await harness.exchange(harness.fake.message_update(CHAT, "long please"), "Paragraph 13:")
    parts = harness.fake.called("sendMessage")
    texts = [parse_html(p["text"]) for p in parts]
    assert len(parts) == 3 and all(len(t) <= MAX_TEXT for t in texts)
    assert "\n\n".join(texts) == long  # cut between paragraphs, nothing lost
    assert all(t.startswith("Paragraph") for t in texts)
    assert [("reply_markup" in p) for p in parts] == [False, False, True]  # the keyboard goes on the last part


async def test_html_in_user_text_arrives_escaped(harness: Harness) -> None:
    fake = harness.fake
    nasty = '<b>bold</b> & <script>alert("x")</script> <a href="http://evil">link</a>'
    [sent] = await harness.exchange(fake.message_update(CHAT, f"echo {nasty}"), "You said")
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in sent["text"]
    assert parse_html(sent["text"]) == f"You said: {nasty}"  # shown exactly as typed
    # A real question with markup in it is answered, and the answer parses as Telegram HTML.
    await harness.exchange(fake.message_update(CHAT, "<b>stp</b> in swat & <i>fsd</i>"), "Swat")


async def test_a_shared_location_goes_to_the_park_finder(harness: Harness) -> None:
    update = harness.fake.message_update(CHAT, location={"latitude": 34.0, "longitude": 71.5})
    await harness.exchange(update, "nearest to your location")


# --- webhook specifics -------------------------------------------------------------------------------------------


async def test_wrong_or_missing_secret_is_refused(webhook: Harness) -> None:
    fake = webhook.fake
    update = fake.message_update(CHAT, "/start")
    for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}):
        response = await webhook.http.post("/telegram/webhook", json=update, headers=headers)
        assert response.status_code == 403
    assert await scalar(webhook.core.db, "SELECT count(*) FROM processed_message") == 0
    # Nothing was processed, so the genuine delivery of the same update is answered.
    await webhook.exchange(update, "Assalam o Alaikum")
    assert len(fake.called("sendMessage")) == 1


async def test_bad_bodies_and_unknown_updates(webhook: Harness, caplog: pytest.LogCaptureFixture) -> None:
    headers = {SECRET_HEADER: SECRET, "content-type": "application/json"}
    post = webhook.http.post
    assert (await post("/telegram/webhook", content=b"{not json", headers=headers)).status_code == 400
    assert (await post("/telegram/webhook", content=b"[1, 2]", headers=headers)).status_code == 400
    assert (await post("/telegram/webhook", content=b'{"update_id": "x"}', headers=headers)).status_code == 400
    too_big = b'{"update_id": 1, "pad": "' + b"x" * webhook.core.settings.max_webhook_body_bytes + b'"}'
    assert (await post("/telegram/webhook", content=too_big, headers=headers)).status_code == 413
    edited = {"update_id": 77, "edited_message": webhook.fake.message_update(CHAT, "hi")["message"]}
    group = webhook.fake.message_update(CHAT, "hi")
    group["message"]["chat"]["type"] = "group"
    for ignored in (edited, group, {"update_id": 78, "a_future_kind": {"id": "p"}}):
        assert (await post("/telegram/webhook", json=ignored, headers=headers)).status_code == 200
    assert "Traceback" not in caplog.text
    await webhook.exchange(webhook.fake.message_update(CHAT, "/start"), "Assalam o Alaikum")
    assert len(webhook.fake.called("sendMessage")) == 1  # only the last update was answered


async def test_database_outage_gives_503_and_the_redelivery_is_processed(webhook: Harness) -> None:
    update = webhook.fake.message_update(CHAT, "startup registration fee")
    webhook.dispatcher.outage = OperationalError("SELECT 1", {}, ConnectionRefusedError("database down"))
    headers = {SECRET_HEADER: SECRET}
    response = await webhook.http.post("/telegram/webhook", json=update, headers=headers)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    webhook.dispatcher.outage = None
    await webhook.exchange(update, "Rs 1,000")  # Telegram redelivers; this time it is handled


async def test_a_poison_update_gets_an_apology_is_kept_once_and_its_redelivery_is_ignored(
    webhook: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (here: the question handler raising) is not an outage: 200, the apology, a dead letter; the
    redelivery changes nothing."""
    import handlers.dispatcher as module

    async def broken(ctx):  # type: ignore[no-untyped-def]
        raise ValueError("a bug in answering")

    fake, db = webhook.fake, webhook.core.db
    update = fake.message_update(CHAT, "who won the cricket \u00e9 match")
    monkeypatch.setattr(module, "answer_question", broken)
    body = json.dumps(update).encode()  # "\ud800" escaped, as Telegram sends it
    headers = {SECRET_HEADER: SECRET, "content-type": "application/json"}
    apology = webhook.core.kb.texts("handling_failed", "en")
    for _ in range(2):  # the first delivery, then Telegram's redelivery of the same update
        response = await webhook.http.post("/telegram/webhook", content=body, headers=headers)
        assert response.status_code == 200
        await wait_until(lambda: apology in fake.sent_texts(), what="the apology")
    monkeypatch.undo()
    await webhook.exchange(fake.message_update(CHAT, "startup registration fee"), "Rs 1,000")
    assert fake.sent_texts().count(apology) == 1
    assert await scalar(db, "SELECT count(*) FROM dead_letter") == 1
    assert await scalar(db, "SELECT message_id FROM dead_letter") == f"u{update['update_id']}"
    assert await scalar(db, "SELECT user_id FROM dead_letter") == str(CHAT)
    assert "\\u00e9" in str(await scalar(db, "SELECT payload FROM dead_letter"))
    claims = "SELECT count(*) FROM processed_message WHERE external_id = :id"
    assert await scalar(db, claims, id=f"u{update['update_id']}") == 1


async def test_a_lone_surrogate_is_cleaned_and_the_message_answered(webhook: Harness) -> None:
    """A text, caption or name with a lone surrogate (a JSON "\\ud800" escape, which no database stores) is cleaned
    as it is read (U+FFFD in its place) and answered like any other message: no dead letter, no 503."""
    fake, db = webhook.fake, webhook.core.db
    update = fake.message_update(CHAT, "startup registration fee \ud800")
    update["message"]["from"]["first_name"] = "Ay\udc00esha"
    body = json.dumps(update).encode()  # "\ud800" escaped, as Telegram sends it
    headers = {SECRET_HEADER: SECRET, "content-type": "application/json"}
    before = len(fake.sent_texts())
    assert (await webhook.http.post("/telegram/webhook", content=body, headers=headers)).status_code == 200
    await wait_until(lambda: any("Rs 1,000" in t for t in fake.sent_texts()[before:]), what="the answer")
    unknown = fake.message_update(CHAT + 1, "who won the cricket \udfff match")  # an unanswered question
    body = json.dumps(unknown).encode()
    before = len(fake.sent_texts())
    assert (await webhook.http.post("/telegram/webhook", content=body, headers=headers)).status_code == 200
    await wait_until(lambda: len(fake.sent_texts()) > before, what="the second reply")
    assert await scalar(db, "SELECT count(*) FROM dead_letter") == 0
    assert await scalar(db, "SELECT count(*) FROM unanswered_question") == 1


@pytest.mark.parametrize("coordinates", ["NaN, 71.5", "34.0, Infinity", "-Infinity, 1e999", "91.0, 71.5"])
async def test_coordinates_that_are_not_a_place_are_ignored(webhook: Harness, coordinates: str) -> None:
    """Python's JSON reader takes NaN and Infinity: such a location is ignored, the message answered with 200."""
    fake, db = webhook.fake, webhook.core.db
    update = fake.message_update(CHAT, location={"latitude": 0.0, "longitude": 0.0})
    latitude, longitude = coordinates.split(", ")
    body = json.dumps(update).replace('"latitude": 0.0', f'"latitude": {latitude}')
    body = body.replace('"longitude": 0.0', f'"longitude": {longitude}')
    headers = {SECRET_HEADER: SECRET, "content-type": "application/json"}
    before = len(fake.sent_texts())
    assert (await webhook.http.post("/telegram/webhook", content=body.encode(), headers=headers)).status_code == 200
    await wait_until(lambda: len(fake.sent_texts()) > before, what="a reply")
    assert webhook.core.kb.texts("handling_failed", "en") not in fake.sent_texts()
    assert await scalar(db, "SELECT count(*) FROM dead_letter") == 0


async def test_telegram_errors_are_logged_and_nothing_crashes(
    webhook: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    fake = webhook.fake
    fake.fail("sendMessage", 400, "Bad Request: chat not found")
    update = fake.message_update(CHAT, "/start")
    await webhook.deliver(update)
    await fake.wait_calls("sendMessage")
    await wait_until(lambda: f"update {update['update_id']}: sendMessage refused" in caplog.text, what="the log")
    fake.failures.clear()
    # The update was handled and stored (not lost), the app still serves, and the next update is answered.
    assert await scalar(webhook.core.db, "SELECT count(*) FROM processed_message") == 1
    assert (await webhook.http.get("/healthz")).status_code == 200
    await webhook.exchange(fake.message_update(CHAT, "startup registration fee"), "Rs 1,000")


async def test_send_and_its_errors(webhook: Harness) -> None:
    fake = webhook.fake
    channel = webhook.core.channels["telegram"]
    sent = await channel.send(str(CHAT), "Your complaint <CMP-1> is now: resolved & closed")
    assert isinstance(sent, Sent) and sent.external_id is not None and sent.external_id.isdigit()
    assert parse_html(fake.called("sendMessage")[-1]["text"]) == "Your complaint <CMP-1> is now: resolved & closed"
    cases = [
        (403, "Forbidden: bot was blocked by the user", None, False),
        (400, "Bad Request: chat not found", None, False),
        (502, "Bad Gateway", None, True),
        (429, "Too Many Requests: retry after 0", {"retry_after": 0}, True),
    ]
    for status, description, parameters, retryable in cases:
        fake.fail("sendMessage", status, description, parameters)
        with pytest.raises(SendError) as raised:
            await channel.send(str(CHAT), "hello")
        assert raised.value.retryable is retryable, description
    fake.failures.clear()
    with pytest.raises(SendError) as raised:
        await channel.send("not-a-chat", "hello")
    assert not raised.value.retryable


async def test_button_data_over_64_bytes_falls_back_to_the_number(webhook: Harness) -> None:
    long_payload = "kb:" + "x" * 80
    webhook.dispatcher.scripted["options please"] = Outcome(
        replies=[Reply("Pick one", (Option("Short", "cmd:menu"), Option("Long", long_payload)))]
    )
    [sent] = await webhook.exchange(webhook.fake.message_update(CHAT, "options please"), "Pick one")
    data = [b["callback_data"] for row in sent["reply_markup"]["inline_keyboard"] for b in row]
    assert data == ["cmd:menu", "2"]
    pressed = to_incoming(webhook.fake.press(CHAT, sent, "Long"))
    assert pressed is not None and pressed.text == "2" and pressed.payload is None  # the dispatcher maps "2"


async def test_photos_and_documents_reach_the_core_and_can_be_fetched(webhook: Harness) -> None:
    fake = webhook.fake
    photo = fake.message_update(
        CHAT,
        caption="evidence",
        photo=[
            {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
            {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 960},
        ],
    )
    incoming = to_incoming(photo)
    assert incoming is not None and incoming.text == "evidence"
    assert [(m.kind, m.ref) for m in incoming.media] == [("photo", "large")]
    document = fake.message_update(
        CHAT, document={"file_id": "doc1", "file_unique_id": "d", "mime_type": "application/pdf", "file_name": "a.pdf"}
    )
    incoming = to_incoming(document)
    assert incoming is not None and [(m.kind, m.ref, m.content_type) for m in incoming.media] == [
        ("document", "doc1", "application/pdf")
    ]
    # Through the app: a photo with no flow asking for one still gets a reply, and its bytes can be fetched.
    await webhook.deliver(photo)
    await fake.wait_calls("sendMessage")
    fake.files["documents/doc1.bin"] = b"%PDF-1.4 evidence"
    channel = webhook.core.channels["telegram"]
    assert isinstance(channel, TelegramChannel)
    assert await channel.download("doc1") == b"%PDF-1.4 evidence"
    with pytest.raises(DownloadError):
        await channel.download("missing")


# --- the CLI -----------------------------------------------------------------------------------------------------


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """`sahulat ARGS` in this process, in a thread of its own (the command runs its own event loop), so the fake
    in this test's loop can answer it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PUBLIC_URL"))}
    return await asyncio.wait_for(asyncio.to_thread(sahulat, *args, env={**base, **env}), timeout=60)


async def test_cli_set_and_delete_webhook(fake: FakeTelegram) -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "PUBLIC_URL": "https://sahulat.example.org/",
    }
    code, out, err = await run_cli("telegram", "set-webhook", env=env)
    assert code == 0, err
    assert "https://sahulat.example.org/telegram/webhook" in out
    [hook] = fake.called("setWebhook")
    assert hook["url"] == "https://sahulat.example.org/telegram/webhook"
    assert hook["secret_token"] == SECRET
    assert hook["allowed_updates"] == ["message", "callback_query"]
    assert {c.get("language_code") for c in fake.called("setMyCommands")} == {None, "ur"}
    urdu = next(c for c in fake.called("setMyCommands") if c.get("language_code") == "ur")
    assert {"command": "complain", "description": "شکایت درج کریں"} in urdu["commands"]  # from texts.yaml
    code, out, err = await run_cli("telegram", "delete-webhook", "--drop-pending-updates", env=env)
    assert code == 0, err
    assert fake.called("deleteWebhook")[-1]["drop_pending_updates"] is True
    assert TOKEN not in out + err  # the token never reaches the output

    fake.fail("setWebhook", 400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
    code, _, err = await run_cli("telegram", "set-webhook", env=env)
    assert code == 1 and "bad webhook" in err.lower() and "Traceback" not in err
    code, _, err = await run_cli("telegram", "set-webhook", env={**env, "PUBLIC_URL": ""})
    assert code == 1 and "PUBLIC_URL not set" in err
    code, _, err = await run_cli("telegram", "delete-webhook", env={})
    assert code == 1 and "TELEGRAM_BOT_TOKEN not set" in err
    code, out, _ = await run_cli("telegram", "set-webhook", "--help", env={})
    assert code == 0 and "TELEGRAM_WEBHOOK_SECRET" in out


# --- units -------------------------------------------------------------------------------------------------------


def test_split_text_prefers_paragraphs_then_lines_then_a_hard_cut() -> None:
    assert split_text("short") == ["short"]
    assert split_text("   ") == []
    paragraphs = ["a" * 40, "b" * 40, "c" * 40]
    assert split_text("\n\n".join(paragraphs), limit=90) == ["a" * 40 + "\n\n" + "b" * 40, "c" * 40]
    lines = "\n".join(["d" * 30] * 4)
    assert split_text(lines, limit=70) == ["d" * 30 + "\n" + "d" * 30] * 2
    assert split_text("e" * 25, limit=10) == ["e" * 10, "e" * 10, "e" * 5]
    emoji = "😀" * 5  # two UTF-16 units each, as Telegram counts
    assert split_text(emoji, limit=4) == ["😀😀", "😀😀", "😀"]


def test_status_line_and_create(settings: Settings, core: Core) -> None:
    off = settings.model_copy(update={"telegram_bot_token": None})
    assert status_line(off) == "Telegram: off, TELEGRAM_BOT_TOKEN not set"
    with_token = settings.model_copy(update={"telegram_bot_token": TOKEN, "telegram_webhook_secret": SECRET})
    assert status_line(with_token) == "Telegram: on (polling mode)"
    webhook = with_token.model_copy(update={"public_url": "https://x.example"})
    assert status_line(webhook).startswith("Telegram: on (webhook mode, https://x.example/telegram/webhook")
    no_secret = webhook.model_copy(update={"telegram_webhook_secret": None})
    assert "TELEGRAM_WEBHOOK_SECRET not set" in status_line(no_secret)
    assert status_line(with_token.model_copy(update={"telegram_mode": "off"})) == "Telegram: off, TELEGRAM_MODE=off"

    def channel(s: Settings) -> TelegramChannel | None:
        return create(Core(settings=s, db=core.db, kb=core.kb, matcher=core.matcher, dispatcher=core.dispatcher))

    assert channel(off) is None and channel(no_secret) is None
    polling = channel(with_token)
    assert polling is not None and polling.mode == "polling" and polling.routes() == []
    hooked = channel(webhook)
    assert hooked is not None and [r.path for r in hooked.routes()] == ["/telegram/webhook"]  # type: ignore[attr-defined]
    assert file_base_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"


async def test_replies_wait_in_the_outbox_while_telegram_is_down(
    fake: FakeTelegram, core: Core, settings: Settings
) -> None:
    """Telegram's API is down when a reply is due: the reply is kept and goes out, once, after recovery."""
    import datetime as dt

    from sqlmodel import select

    from bot.domain.outbox import deliver_due
    from bot.models import Notification, utcnow

    app_settings = telegram_settings(settings, fake, "webhook").model_copy(update={"outbox_in_web": False})
    tg_core = telegram_core(core, app_settings)

    async def queued() -> list[Notification]:
        async with tg_core.db.session() as session:
            return list(await session.exec(select(Notification).where(Notification.kind == "reply")))

    fake.fail("sendMessage", 502, "Bad Gateway")
    async with serve(create_app(app_settings, core=tg_core)) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.post(
            "/telegram/webhook", json=fake.message_update(CHAT, "stp in swat"), headers={SECRET_HEADER: SECRET}
        )
        assert response.status_code == 200
        for _ in range(150):
            if await queued():
                break
            await asyncio.sleep(0.1)
        [kept] = await queued()
        assert kept.status == "pending" and "Swat" in kept.text and kept.user_id == str(CHAT)
        refused = len(fake.sent_texts())  # the fake records the refused attempts too
        del fake.failures["sendMessage"]  # Telegram is back
        assert await deliver_due(tg_core, utcnow() + dt.timedelta(seconds=1)) == 1
        assert await deliver_due(tg_core, utcnow() + dt.timedelta(hours=1)) == 0
    delivered = [text for text in fake.sent_texts()[refused:] if "Swat" in text]
    assert len(delivered) == 1 and "Source" in delivered[0]


async def test_complaint_flow_over_telegram(webhook: Harness) -> None:
    """The whole intake by buttons, typing, a photo and a shared location; the reference comes after the commit."""
    from sqlmodel import select

    from bot.models import Complaint

    fake = webhook.fake
    [categories] = await webhook.exchange(fake.message_update(CHAT, "/complain"), "What is the complaint about")
    [place] = await webhook.exchange(fake.press(CHAT, categories, "Something else"), "Which city or district")
    assert place.get("reply_markup") is None
    await webhook.exchange(fake.message_update(CHAT, "Mardan"), "Describe the problem")
    [evidence] = await webhook.exchange(
        fake.message_update(CHAT, "The facilitation centre turned me away three times"), "photo or document"
    )
    photo = [{"file_id": "evidence-1", "file_unique_id": "e", "width": 800, "height": 600}]
    await webhook.exchange(fake.message_update(CHAT, photo=photo), "share the location")
    [consent] = await webhook.exchange(
        fake.message_update(CHAT, location={"latitude": 34.2, "longitude": 72.04}), "contact you"
    )
    [summary] = await webhook.exchange(fake.press(CHAT, consent, "No"), "Please check your complaint")
    assert "Attachments: 1" in parse_html(summary["text"]) and "Location: shared" in parse_html(summary["text"])
    [filed] = await webhook.exchange(fake.press(CHAT, summary, "Confirm and file"), "Reference: CMP-")
    async with webhook.core.db.session() as session:
        complaint = (await session.exec(select(Complaint))).one()
    assert complaint.reference in parse_html(filed["text"])
    assert (complaint.channel, complaint.user_id, complaint.district) == ("telegram", str(CHAT), "mardan")
    assert complaint.attachments[0]["ref"] == "evidence-1" and complaint.latitude == 34.2


async def test_past_the_delivery_backlog_replies_wait_in_the_outbox(
    fake: FakeTelegram, core: Core, settings: Settings
) -> None:
    """More replies due than Telegram's pace allows: they are kept in the database, not in memory, and go out."""
    import datetime as dt

    from sqlmodel import select

    from bot.domain.outbox import deliver_due
    from bot.models import Notification, utcnow

    app_settings = telegram_settings(settings, fake, "webhook").model_copy(update={"outbox_in_web": False})
    tg_core = telegram_core(core, app_settings)
    async with serve(create_app(app_settings, core=tg_core)) as url, httpx.AsyncClient(base_url=url) as http:
        channel = tg_core.channels["telegram"]
        assert isinstance(channel, TelegramChannel)
        channel.max_pending_deliveries = 0  # the backlog is full
        response = await http.post(
            "/telegram/webhook", json=fake.message_update(CHAT, "stp in swat"), headers={SECRET_HEADER: SECRET}
        )
        assert response.status_code == 200
        async with tg_core.db.session() as session:
            [kept] = list(await session.exec(select(Notification).where(Notification.kind == "reply")))
        assert kept.status == "pending" and "Swat" in kept.text and kept.user_id == str(CHAT)
        assert not [text for text in fake.sent_texts() if "Swat" in text]  # nothing went out from memory
        assert await deliver_due(tg_core, utcnow() + dt.timedelta(seconds=1)) == 1
    delivered = [text for text in fake.sent_texts() if "Swat" in text]
    assert len(delivered) == 1 and "Source" in delivered[0]


def _same_incoming(update: dict[str, object]) -> tuple[Incoming | None, Incoming | None]:
    """The webhook's reading of the JSON, and the polling path's (through PTB's own Update and back)."""
    direct = to_incoming(update)
    through_ptb = to_incoming(Update.de_json(update, None).to_dict())
    if direct is not None and through_ptb is not None:
        through_ptb = dataclasses.replace(through_ptb, received_at=direct.received_at)
    return direct, through_ptb


async def test_updates_read_from_json_as_ptb_reads_them(fake: FakeTelegram) -> None:
    photo = [{"file_id": "small", "file_unique_id": "s", "width": 9, "height": 9}]
    updates = [
        fake.message_update(CHAT, "fee for startups?"),
        fake.message_update(CHAT, caption="evidence", photo=photo),
        fake.message_update(CHAT, document={"file_id": "d1", "file_unique_id": "d", "mime_type": "application/pdf"}),
        fake.message_update(CHAT, location={"latitude": 34.0151, "longitude": 71.5249}),
        fake.callback_update(CHAT, "cmd:menu"),
        fake.callback_update(CHAT, "2"),
    ]
    no_last_name = fake.message_update(CHAT, "hi")
    del no_last_name["message"]["from"]["last_name"]  # type: ignore[index]
    inline = fake.callback_update(CHAT, "cmd:menu")
    del inline["callback_query"]["message"]  # type: ignore[attr-defined]
    group = fake.message_update(CHAT, "hi")
    group["message"]["chat"]["type"] = "group"  # type: ignore[index]
    for update in [*updates, no_last_name, inline, group]:
        direct, through_ptb = _same_incoming(update)
        assert direct == through_ptb, update
    first = to_incoming(updates[0])
    assert first == Incoming(
        channel="telegram",
        user_id=str(CHAT),
        text="fee for startups?",
        display_name="Ayesha Khan",
        language_hint="en",
        message_id=f"u{updates[0]['update_id']}",
        received_at=first.received_at,  # type: ignore[union-attr]
        can_attach=True,
    )
    assert to_incoming(inline).user_id == str(CHAT)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda u: u["message"]["chat"].update(id="12345"),
        lambda u: u["message"].pop("chat"),
        lambda u: u["message"].update(text=["not", "text"]),
        lambda u: u["message"].update(photo="large"),
        lambda u: u["message"].update(photo=["large"]),
        lambda u: u["message"].update(document={"mime_type": "application/pdf"}),
        lambda u: u["message"].update(location={"latitude": "north", "longitude": 71.5}),
        lambda u: u["message"]["from"].update(first_name=7),
        lambda u: u["message"]["chat"].update(id=True),
    ],
)
async def test_an_update_with_fields_of_the_wrong_kind_is_refused(webhook: Harness, spoil) -> None:  # type: ignore[no-untyped-def]
    update = webhook.fake.message_update(CHAT, "hi")
    spoil(update)
    response = await webhook.http.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 400 and response.text == "malformed update"
    assert await scalar(webhook.core.db, "SELECT count(*) FROM processed_message") == 0


async def test_a_pressed_button_without_a_sender_is_refused(webhook: Harness) -> None:
    update = webhook.fake.callback_update(CHAT, "cmd:menu")
    del update["callback_query"]["from"]  # type: ignore[attr-defined]
    response = await webhook.http.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 400


async def test_an_urdu_writer_keeps_urdu_through_buttons_on_an_english_phone(webhook: Harness) -> None:
    """The phone says English (language_code "en"), the user writes Urdu: buttons keep the conversation in Urdu."""
    fake, kb = webhook.fake, webhook.core.kb
    welcome_ur = kb.texts("welcome", "ur")[:20]
    [menu] = await webhook.exchange(fake.message_update(CHAT, "السلام علیکم"), welcome_ur)
    parks_ur = kb.texts("parks_ask", "ur")[:20]
    [parks] = await webhook.exchange(fake.press(CHAT, menu, labels(menu)[0]), parks_ur)
    assert parse_html(parks["text"]).startswith(parks_ur)
    switch = fake.message_update(CHAT, "roman urdu mein likho")  # a plain request, in the middle of a flow
    assert await webhook.exchange(switch, kb.texts("language_set", "roman"))


async def test_a_redelivered_update_sends_the_stored_replies_not_yet_sent_and_none_twice(harness: Harness) -> None:
    """The process committed the update and died before sending its reply (Telegram redelivers, since it never got
    our 200): the redelivery sends the stored reply, once; a further redelivery sends nothing."""
    fake = harness.fake
    if harness.mode == "webhook":
        harness.core.channels["telegram"].redelivery_grace = 0.3  # type: ignore[attr-defined]
    update = fake.message_update(CHAT, "startup registration fee")
    incoming = to_incoming(update)
    assert incoming is not None
    handled = await harness.core.dispatcher.handle(incoming)  # committed; nothing was sent
    assert handled.intent == "answer" and not fake.called("sendMessage")
    await harness.exchange(update, "Rs 1,000")  # redelivered
    await harness.deliver(update, again=True)  # and again, after the reply went out
    await harness.exchange(fake.message_update(CHAT, "/start"), "Assalam o Alaikum")  # replies go out in order
    assert sum("Rs 1,000" in text for text in fake.sent_texts()) == 1
    delivered = "SELECT delivered FROM processed_message WHERE channel = 'telegram' AND external_id = :id"
    assert await scalar(harness.core.db, delivered, id=incoming.message_id) == 1


async def test_a_staff_reply_reaches_telegram_and_a_reply_to_it_reaches_the_complaint(webhook: Harness) -> None:
    """The staff reply goes out through the outbox; the citizen's answer, a Telegram reply to it, is kept on the
    complaint (not answered as a question), and a handover request then keeps the bot quiet."""
    from sqlmodel import select

    from bot.domain.complaints import Draft, file_complaint
    from bot.domain.conversation import staff_reply
    from bot.domain.outbox import deliver_due
    from bot.models import ComplaintEvent, Notification

    fake = webhook.fake
    async with webhook.core.db.session() as session, session.begin():
        draft = Draft(channel="telegram", user_id=str(CHAT), category="other", district="swat", description="no net")
        complaint = await file_complaint(session, draft)
        await staff_reply(session, webhook.core.kb, complaint=complaint, handover=None, text="Fixed?", username="amna")
        reference = complaint.reference
    assert await deliver_due(webhook.core) == 1
    assert parse_html(fake.called("sendMessage")[-1]["text"]) == f"Staff, about your complaint {reference}: Fixed?"
    async with webhook.core.db.session() as session:
        sent = (await session.exec(select(Notification))).one()
    assert sent.external_id is not None
    quoted = {"message_id": int(sent.external_id), "date": 0, "chat": {"id": CHAT, "type": "private"}}
    update = fake.message_update(CHAT, "still down in block B", reply_to_message=quoted)
    [added] = await webhook.exchange(update, "Added to your complaint")
    assert labels(added) == ["Ask the bot instead"]
    [which] = await webhook.exchange(fake.message_update(CHAT, "talk to a person"), "Which complaint")
    [asked] = await webhook.exchange(fake.press(CHAT, which, reference), "member of staff")
    assert labels(asked) == ["Back to the bot"]
    before = len(fake.called("sendMessage"))
    await webhook.deliver(fake.message_update(CHAT, "what is the fee for a startup"))
    await webhook.exchange(fake.message_update(CHAT, "menu"), "Pick a topic")  # the menu still answers
    assert len(fake.called("sendMessage")) == before + 1  # the question before it got no reply
    async with webhook.core.db.session() as session:
        notes = [
            e.note for e in await session.exec(select(ComplaintEvent).where(ComplaintEvent.kind == "citizen_message"))
        ]
    assert notes[0] == "still down in block B" and "what is the fee for a startup" in notes
