"""The WhatsApp channel end to end: the real app under uvicorn on 127.0.0.1, form posts signed with Twilio's
own RequestValidator, and the real twilio async client sending to a fake Messages API (tests/fake_twilio.py).

Storage tests run on SQLite and PostgreSQL (the `core` fixture's database).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import json
import random
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from bot.app import create_app
from bot.channels.base import SendError
from bot.channels.whatsapp import create, status_line
from bot.channels.whatsapp import send as whatsapp_send
from bot.channels.whatsapp.channel import WhatsAppChannel
from bot.channels.whatsapp.config import STATUS_PATH, WEBHOOK_PATH
from bot.channels.whatsapp.parse import parse_incoming
from bot.channels.whatsapp.render import MAX_BODY_CHARS, outcome_messages, split_text, twiml_text, xml_safe
from bot.channels.whatsapp.signature import SignatureCheck
from bot.core import Core
from bot.db import Database
from bot.domain.privacy import stored_about
from bot.models import Complaint, Notification, UserProfile, utcnow
from bot.settings import Settings
from handlers.channel_state import delivery_advances
from handlers.messages import Incoming, Location, Media, Option, Outcome, Reply

from .conftest import scalar
from .fake_twilio import FakeTwilio, running_fake, serve

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC_URL = "https://sahulat.example.org"  # what Twilio calls; the app itself listens on 127.0.0.1
SENDER = "whatsapp:+14155238886"
TEMPLATE_SID = "HX" + "fedcba9876543210" * 2
WA_ID = "923001234567"
WAIT = 20.0  # upper bound on any single wait in these tests
# Messages handled (each also claims its request's signature, under "signature:...")
HANDLED = "SELECT count(*) FROM processed_message WHERE external_id NOT LIKE 'signature:%'"

# twilio's async HTTP client still uses aiohttp's BasicAuth, which aiohttp deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:BasicAuth is deprecated:DeprecationWarning", "ignore:The 'auth' parameter is deprecated:DeprecationWarning"
)

_sids = itertools.count(1)


def new_sid() -> str:
    return f"SM{next(_sids):032x}"


def whatsapp_settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(
        update={
            "public_url": PUBLIC_URL,
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_whatsapp_from": SENDER,
            "twilio_template_content_sid": TEMPLATE_SID,
            "twilio_send_timeout_seconds": 5.0,
            **changes,
        }
    )


def inbound(text: str = "", *, sid: str | None = None, wa_id: str = WA_ID, **extra: str) -> dict[str, str]:
    """The fields Twilio posts for an incoming WhatsApp message."""
    sid = sid or new_sid()
    return {
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ProfileName": "Ayesha",
        "MessageType": "text",
        "SmsSid": sid,
        "WaId": wa_id,
        "SmsStatus": "received",
        "Body": text,
        "To": SENDER,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:+{wa_id}",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def status_update(sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
    """The fields of a Twilio message status callback."""
    fields = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": ACCOUNT_SID,
        "From": SENDER,
        "To": f"whatsapp:+{WA_ID}",
        "ChannelPrefix": "whatsapp",
        "ChannelToAddress": f"+{WA_ID}",
        "ChannelInstallSid": "XE" + "0123456789abcdef" * 2,
        "StructuredMessage": "false",
        "ApiVersion": "2010-04-01",
    }
    if status == "read":
        fields["EventType"] = "READ"
    if error_code:
        fields["ErrorCode"] = error_code
    return fields


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


def twiml_messages(response: httpx.Response) -> list[str]:
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return [element.text or "" for element in root.findall("Message")]


@dataclasses.dataclass
class Bot:
    """The running app, a client for it, and the core it shares with the test."""

    url: str
    http: httpx.AsyncClient
    core: Core

    @property
    def channel(self) -> WhatsAppChannel:
        channel = self.core.channels["whatsapp"]
        assert isinstance(channel, WhatsAppChannel)
        return channel

    async def post(
        self, path: str, form: dict[str, str], *, signature: str | None = "", signed_url: str | None = None
    ) -> httpx.Response:
        """POST `form` as Twilio would: signed over PUBLIC_URL + path unless told otherwise (None: unsigned)."""
        headers = {}
        if signature == "":
            signature = sign(signed_url or PUBLIC_URL + path, form)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        return await self.http.post(path, data=form, headers=headers)

    async def say(self, text: str, **extra: str) -> list[str]:
        response = await self.post(WEBHOOK_PATH, inbound(text, **extra))
        assert response.status_code == 200, response.text
        return twiml_messages(response)


@pytest.fixture
def wa_settings(settings: Settings) -> Settings:
    return whatsapp_settings(settings)


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTwilio]:
    async with running_fake() as fake:
        monkeypatch.setattr(whatsapp_send, "new_http_client", fake.http_client)
        yield fake


@pytest.fixture
async def bot(core: Core, wa_settings: Settings, fake: FakeTwilio) -> AsyncIterator[Bot]:
    wa_core = dataclasses.replace(core, settings=wa_settings, channels={})
    async with (
        serve(create_app(wa_settings, core=wa_core)) as url,
        httpx.AsyncClient(base_url=url, timeout=WAIT) as http,
    ):
        yield Bot(url=url, http=http, core=wa_core)


async def set_last_inbound(db: Database, user_id: str, when: dt.datetime) -> None:
    async with db.session() as session, session.begin():
        profile = await session.get(UserProfile, ("whatsapp", user_id))
        assert profile is not None
        profile.last_inbound_at = when


async def add_notification(db: Database, external_id: str) -> int:
    async with db.session() as session, session.begin():
        row = Notification(channel="whatsapp", user_id=WA_ID, text="update", status="sent", external_id=external_id)
        session.add(row)
        await session.flush()
        assert row.id is not None
        return row.id


async def delivery(db: Database, notification_id: int) -> tuple[str | None, str | None]:
    async with db.session() as session:
        row = (await session.exec(select(Notification).where(Notification.id == notification_id))).one()
        return row.delivery_status, row.delivery_error_code


# --- configuration -------------------------------------------------------------------------------------------


def test_status_line_says_why_whatsapp_is_off_or_where_it_listens(settings: Settings) -> None:
    unset = {"twilio_account_sid": None, "twilio_auth_token": None, "twilio_whatsapp_from": None, "public_url": None}
    off = settings.model_copy(update=unset)
    assert status_line(off) == "WhatsApp: off, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_FROM not set"
    partial = off.model_copy(update={"twilio_account_sid": ACCOUNT_SID})
    assert status_line(partial) == "WhatsApp: off, TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_FROM, PUBLIC_URL not set"
    no_url = whatsapp_settings(settings, public_url=None)
    assert status_line(no_url).startswith("WhatsApp: off, PUBLIC_URL not set")
    assert create(SimpleNamespace(settings=no_url)) is None  # type: ignore[arg-type]
    on = whatsapp_settings(settings)
    assert status_line(on) == f"WhatsApp: on (webhook at {PUBLIC_URL}/whatsapp/webhook)"


# --- rendering (no database) ---------------------------------------------------------------------------------


def test_long_replies_are_split_on_paragraphs_within_twilios_limit() -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 150 for i in range(8)]  # about 760 characters each
    outcome = Outcome(replies=[Reply("\n\n".join(paragraphs), options=(Option("Menu", "cmd:menu"),))])
    messages = outcome_messages(outcome)
    assert len(messages) > 1
    assert all(len(message) <= MAX_BODY_CHARS for message in messages)
    for paragraph in paragraphs:  # no paragraph is cut in two
        assert sum(paragraph.strip() in message for message in messages) == 1
    assert messages[-1].endswith("\n\n1. Menu")
    word = "x" * 4000  # nothing to cut at: cut mid-word, losing nothing
    assert "".join(split_text(word)) == word
    assert all(len(piece) <= MAX_BODY_CHARS for piece in split_text(word))
    assert split_text("short") == ["short"] and split_text("  ") == []


def test_delivery_status_only_moves_forward() -> None:
    assert delivery_advances(None, "queued") and delivery_advances("queued", "sent")
    assert delivery_advances("sent", "read") and not delivery_advances("read", "delivered")
    assert not delivery_advances("delivered", "sent") and not delivery_advances("sent", "sent")
    assert delivery_advances("sent", "failed") and not delivery_advances("delivered", "undelivered")
    assert not delivery_advances("failed", "delivered") and not delivery_advances("undelivered", "read")
    assert not delivery_advances("sent", "receiving")  # not a delivery status: ignored


# --- incoming messages ---------------------------------------------------------------------------------------


async def test_fee_question_is_answered_in_twiml_with_its_source(bot: Bot) -> None:
    response = await bot.post(WEBHOOK_PATH, inbound("startup registration fee"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    messages = twiml_messages(response)
    assert messages and "Rs 1,000" in messages[0]
    assert "Source:" in messages[0]
    assert "<b>" not in messages[0] and "parse_mode" not in response.text  # plain text, no Telegram markup


async def test_fees_path_by_numbered_options(bot: Bot) -> None:
    menu = await bot.say("menu")
    assert "1. Technology parks" in menu[0] and "2. Registration fees and exemptions" in menu[0]
    fees = await bot.say("2")
    assert "1. A startup" in fees[0]
    await bot.say("1")
    answer = "\n".join(await bot.say("Mardan"))
    assert "Rs 1,000" in answer and "Source:" in answer


async def test_option_picked_by_its_label(bot: Bot) -> None:
    await bot.say("menu", wa_id="923007654321")
    fees = await bot.say("registration fees and exemptions", wa_id="923007654321")
    assert "1. A startup" in fees[0]


@pytest.mark.parametrize("case", ["missing", "empty", "forged", "request_url", "other_path", "tampered"])
async def test_bad_signatures_get_403_and_nothing_is_processed(bot: Bot, case: str) -> None:
    form = inbound("menu")
    if case == "missing":
        response = await bot.post(WEBHOOK_PATH, form, signature=None)
    elif case == "empty":
        response = await bot.http.post(WEBHOOK_PATH, data=form, headers={"X-Twilio-Signature": ""})
    elif case == "forged":
        response = await bot.post(WEBHOOK_PATH, form, signature=sign(PUBLIC_URL + WEBHOOK_PATH, form, "guessed"))
    elif case == "request_url":  # signed over the address the app sees, not the public one Twilio calls
        response = await bot.post(WEBHOOK_PATH, form, signed_url=bot.url + WEBHOOK_PATH)
    elif case == "other_path":
        response = await bot.post(WEBHOOK_PATH, form, signed_url=PUBLIC_URL + STATUS_PATH)
    else:  # a valid signature, then the body changed
        signature = sign(PUBLIC_URL + WEBHOOK_PATH, form)
        response = await bot.post(WEBHOOK_PATH, {**form, "Body": "cancel"}, signature=signature)
    assert response.status_code == 403
    assert await scalar(bot.core.db, "SELECT count(*) FROM processed_message") == 0
    assert await scalar(bot.core.db, "SELECT count(*) FROM user_profile") == 0
    # The same message, properly signed, goes through.
    assert (await bot.post(WEBHOOK_PATH, form)).status_code == 200


async def test_query_string_is_part_of_the_signed_url(bot: Bot) -> None:
    form = inbound("menu")
    path = f"{WEBHOOK_PATH}?source=twilio"
    assert (await bot.post(path, form, signed_url=PUBLIC_URL + WEBHOOK_PATH)).status_code == 403
    assert (await bot.post(path, form)).status_code == 200


async def test_same_message_sid_is_processed_once_and_answered_alike(bot: Bot) -> None:
    form = inbound("language")
    first = await bot.post(WEBHOOK_PATH, form)
    again = await bot.post(WEBHOOK_PATH, form)  # Twilio's retry: it never got our response
    assert first.status_code == 200 and twiml_messages(first)
    assert again.status_code == 200 and twiml_messages(again) == twiml_messages(first)
    assert await scalar(bot.core.db, HANDLED) == 1
    # Redeliveries racing each other: handled once, every response the same replies.
    racing = inbound("menu")
    responses = await asyncio.gather(*(bot.post(WEBHOOK_PATH, racing) for _ in range(4)))
    assert all(response.status_code == 200 for response in responses)
    assert len({tuple(twiml_messages(response)) for response in responses}) == 1 and twiml_messages(responses[0])
    assert await scalar(bot.core.db, HANDLED) == 2


def recut(form: dict[str, str], key: str) -> dict[str, str]:
    """The same signature, another form: `key`'s value swallows the next key (in Twilio's sorted order) and its
    value, as an attacker holding one captured request can do."""
    keys = sorted(form)
    following = keys[keys.index(key) + 1]
    forged = {k: v for k, v in form.items() if k != following}
    forged[key] = form[key] + following + form[following]
    return forged


async def test_a_captured_request_recut_under_its_signature_is_not_handled_again(bot: Bot) -> None:
    """Twilio signs the sorted keys and values run together: moving a boundary keeps the signature. No re-cut of
    a capture is handled as a new message: a SID that is not Twilio's shape, SIDs that disagree and unknown
    names are refused, and what is left is a repeat of the signature, answered as the duplicate it is."""
    form = inbound("complaint", ProfileName="Ayesha", ReferralNumMedia="0")
    signature = sign(PUBLIC_URL + WEBHOOK_PATH, form)
    assert (await bot.post(WEBHOOK_PATH, form, signature=signature)).status_code == 200
    for key in ("MessageSid", "SmsMessageSid", "SmsSid", "ProfileName", "Body", "AccountSid", "NumSegments"):
        forged = recut(form, key)
        assert sign(PUBLIC_URL + WEBHOOK_PATH, forged) == signature
        response = await bot.post(WEBHOOK_PATH, forged, signature=signature)
        assert response.status_code in (200, 400), key
    assert await scalar(bot.core.db, HANDLED) == 1
    # Another message id under a signature already seen (however it was made): a replay, not handled.
    other = dataclasses.replace(parse_incoming(FormData(list(inbound("menu").items())), "signature:x"))
    assert not (await bot.core.dispatcher.handle(other)).duplicate
    replay = dataclasses.replace(other, message_id=new_sid(), text="delete my data")
    outcome = await bot.core.dispatcher.handle(replay)
    assert outcome.duplicate and not outcome.replies
    assert await scalar(bot.core.db, HANDLED) == 2
    async with bot.core.db.session() as session:  # "my data" counts messages, not their signatures
        assert (await stored_about(session, "whatsapp", WA_ID)).messages == 2


@pytest.mark.parametrize(
    "change",
    [
        {"MessageSid": "SM123"},
        {"MessageSid": "SM" + "0" * 31 + "g"},
        {"MessageSid": "XX" + "0" * 32},
        {"SmsSid": "SM" + "f" * 32},
        {"SmsMessageSid": "MM" + "f" * 32},
        {"From": "whatsapp:+923009999999"},
        {"WaId": "92300123456x"},
        {"Surprise": "1"},
        {"MediaUrlX": "https://example.org/x"},
    ],
)
async def test_forms_twilio_would_not_send_are_refused(bot: Bot, change: dict[str, str]) -> None:
    response = await bot.post(WEBHOOK_PATH, inbound("menu") | change)
    assert response.status_code == 400
    if not {"SmsMessageSid", "From"} & set(change):  # neither is checked in a status callback
        status = status_update(new_sid(), "delivered") | change
        assert (await bot.post(STATUS_PATH, status)).status_code == 400
    assert await scalar(bot.core.db, HANDLED) == 0


async def test_every_parameter_twilio_documents_is_accepted(bot: Bot) -> None:
    """The inbound parameters of Twilio's webhook guide, all at once, and a status callback's."""
    every = {
        "MessagingServiceSid": "MG" + "1" * 32,
        "FromCity": "",
        "FromState": "",
        "FromZip": "",
        "FromCountry": "PK",
        "ToCity": "",
        "ToState": "",
        "ToZip": "",
        "ToCountry": "US",
        "Forwarded": "true",
        "FrequentlyForwarded": "false",
        "Address": "Saddar",
        "Label": "Home",
        "ButtonType": "REPLY",
        "ChannelMetadata": "{}",
        "InteractiveData": "{}",
        "ListId": "1",
        "ListTitle": "Fees",
        "ReferralBody": "",
        "ReferralHeadline": "",
        "ReferralSourceId": "",
        "ReferralSourceType": "",
        "ReferralSourceUrl": "",
        "ReferralMediaId": "",
        "ReferralMediaContentType": "",
        "ReferralMediaUrl": "",
        "ReferralCtwaClid": "",
        "OriginalRepliedMessageSender": SENDER,
        "OriginalRepliedMessageSid": new_sid(),
        "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1",
        "MediaContentType0": "image/jpeg",
        "NumMedia": "1",
    }
    assert (await bot.post(WEBHOOK_PATH, inbound("menu", **every))).status_code == 200
    status = status_update(new_sid(), "failed", "63016") | {
        "ErrorMessage": "outside the window",
        "ChannelStatusMessage": "re-engagement required",
        "RawDlrDoneDate": "2611301200",
        "EventType": "UNDELIVERED",
        "MessagingServiceSid": "MG" + "1" * 32,
    }
    assert (await bot.post(STATUS_PATH, status)).status_code == 200


async def test_a_message_handled_before_its_response_was_lost_gets_its_replies_on_redelivery(bot: Bot) -> None:
    """The process committed the message (a complaint's confirmation, say) and died before answering Twilio: the
    redelivery is not handled again, and is answered with the replies the first handling gave."""
    form = inbound("startup registration fee")
    handled = await bot.core.dispatcher.handle(parse_incoming(FormData(list(form.items()))))
    assert handled.intent == "answer"  # committed; no response reached Twilio
    redelivered = await bot.post(WEBHOOK_PATH, form)
    assert redelivered.status_code == 200
    assert twiml_messages(redelivered) == outcome_messages(handled)
    assert await scalar(bot.core.db, HANDLED) == 1


async def test_long_reply_is_split_into_several_twiml_messages(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    long_text = "\n\n".join(f"Part {i}. " + "detail " * 120 for i in range(6))

    async def long_answer(msg: Incoming, payload: str | None = None) -> Outcome:
        return Outcome(replies=[Reply(long_text)])

    monkeypatch.setattr(bot.core.dispatcher, "handle", long_answer)
    messages = await bot.say("tell me everything")
    assert len(messages) > 1 and all(len(message) <= MAX_BODY_CHARS for message in messages)
    assert " ".join(" ".join(messages).split()) == " ".join(long_text.split())


async def test_media_location_and_buttons_reach_the_core(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Incoming] = []
    handle = bot.core.dispatcher.handle

    async def spy(msg: Incoming, payload: str | None = None) -> Outcome:
        seen.append(msg)
        return await handle(msg, payload)

    monkeypatch.setattr(bot.core.dispatcher, "handle", spy)
    photo = "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1"
    pdf = "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME2"
    media = {"NumMedia": "2", "MediaUrl0": photo, "MediaContentType0": "image/jpeg"}
    media |= {"MediaUrl1": pdf, "MediaContentType1": "application/pdf", "MessageType": "image"}
    await bot.say("", **media)
    assert await bot.say("", Latitude="34.0151", Longitude="71.5249", MessageType="location")
    button = await bot.say("Registration fees", ButtonPayload="flow:fees", ButtonText="Registration fees")
    assert "1. A startup" in button[0]
    form = inbound("hello")
    del form["WaId"]  # no WaId: the number from From, without its prefix
    assert (await bot.post(WEBHOOK_PATH, form)).status_code == 200

    first = seen[0]
    assert (first.channel, first.user_id, first.display_name) == ("whatsapp", WA_ID, "Ayesha")
    assert first.media == (Media("photo", photo, "image/jpeg"), Media("document", pdf, "application/pdf"))
    assert seen[1].location == Location(latitude=34.0151, longitude=71.5249)
    assert seen[2].payload == "flow:fees" and seen[2].text == "Registration fees"
    assert seen[3].user_id == f"+{WA_ID}"
    assert len({msg.message_id for msg in seen}) == 4 and all(msg.message_id.startswith("SM") for msg in seen)


@pytest.mark.parametrize("latitude, longitude", [("NaN", "71.5"), ("34.0", "inf"), ("-Infinity", "1e999"), ("91", "0")])
async def test_coordinates_that_are_not_a_place_are_ignored(bot: Bot, latitude: str, longitude: str) -> None:
    replies = await bot.say("", Latitude=latitude, Longitude=longitude, MessageType="location")
    assert replies and bot.core.kb.texts("handling_failed", "en") not in replies
    assert await scalar(bot.core.db, "SELECT count(*) FROM dead_letter") == 0


async def test_oversized_malformed_and_odd_requests_are_refused_cleanly(bot: Bot) -> None:
    limit = bot.channel.settings.max_webhook_body_bytes
    huge = inbound("stp " * limit)
    assert (await bot.post(WEBHOOK_PATH, huge)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap applies while reading
        for _ in range(limit // 4096 + 4):
            yield b"Body=" + b"x" * 4091

    headers = {"X-Twilio-Signature": "x", "Content-Type": "application/x-www-form-urlencoded"}
    assert (await bot.http.post(WEBHOOK_PATH, content=chunks(), headers=headers)).status_code == 413
    for body in (b"Body=hi&From", b"Body=%FF%FE", b"Body=\xff"):
        assert (await bot.http.post(WEBHOOK_PATH, content=body, headers=headers)).status_code == 400
    json_headers = {"X-Twilio-Signature": "x", "Content-Type": "application/json"}
    assert (await bot.http.post(WEBHOOK_PATH, content=b"{}", headers=json_headers)).status_code == 415
    for field in ("From", "MessageSid"):
        form = inbound("menu")
        del form[field]
        if field == "MessageSid":
            del form["SmsMessageSid"]
        assert (await bot.post(WEBHOOK_PATH, form)).status_code == 400
    assert (await bot.post(STATUS_PATH, {"MessageSid": new_sid()})).status_code == 400
    assert await scalar(bot.core.db, "SELECT count(*) FROM processed_message") == 0
    # Nothing crashed: the next message is answered as usual.
    assert (await bot.say("menu"))[0].startswith("What would you like to know?")
    assert (await bot.http.get("/healthz")).status_code == 200


async def test_database_outage_gets_503_and_the_retry_is_processed(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    async def down(msg: Incoming, payload: str | None = None) -> Outcome:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database down"))

    form = inbound("startup registration fee")
    with monkeypatch.context() as patch:
        patch.setattr(bot.core.dispatcher, "handle", down)
        assert (await bot.post(WEBHOOK_PATH, form)).status_code == 503
    retried = await bot.post(WEBHOOK_PATH, form)
    assert retried.status_code == 200 and "Rs 1,000" in twiml_messages(retried)[0]


async def test_a_poison_message_gets_an_apology_is_kept_once_and_its_redelivery_is_ignored(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (here: the question handler raising) is not an outage: 200 with the apology in TwiML, the message
    kept as a dead letter with what Twilio posted, and Twilio's redelivery of the same MessageSid answered with
    the same apology and not handled again."""
    import handlers.dispatcher as module

    async def broken(ctx):  # type: ignore[no-untyped-def]
        raise ValueError("a bug in answering")

    monkeypatch.setattr(module, "answer_question", broken)
    form = inbound("startup registration fee")
    response = await bot.post(WEBHOOK_PATH, form)
    assert response.status_code == 200
    assert twiml_messages(response) == [bot.core.kb.texts("handling_failed", "en")]
    redelivered = await bot.post(WEBHOOK_PATH, form)
    assert redelivered.status_code == 200 and twiml_messages(redelivered) == twiml_messages(response)  # same apology
    db = bot.core.db
    assert await scalar(db, "SELECT count(*) FROM dead_letter") == 1
    assert await scalar(db, "SELECT channel FROM dead_letter") == "whatsapp"
    assert await scalar(db, "SELECT message_id FROM dead_letter") == form["MessageSid"]
    assert await scalar(db, "SELECT user_id FROM dead_letter") == WA_ID
    assert await scalar(db, "SELECT error_type FROM dead_letter") == "builtins.ValueError"
    payload = str(await scalar(db, "SELECT payload FROM dead_letter"))
    assert f"MessageSid={form['MessageSid']}" in payload and "Body=startup+registration+fee" in payload
    claims = "SELECT count(*) FROM processed_message WHERE external_id = :sid"
    assert await scalar(db, claims, sid=form["MessageSid"]) == 1


async def test_the_apology_is_in_the_users_language(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    import handlers.dispatcher as module

    async def broken(ctx):  # type: ignore[no-untyped-def]
        raise ValueError("a bug in answering")

    await bot.say("urdu me batao")
    monkeypatch.setattr(module, "answer_question", broken)
    assert await bot.say("startup registration fee") == [bot.core.kb.texts("handling_failed", "ur")]


async def test_a_transient_failure_answers_503_and_keeps_nothing(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    import handlers.dispatcher as module

    async def lost(ctx):  # type: ignore[no-untyped-def]
        raise ConnectionResetError("the database went away")

    form = inbound("startup registration fee")
    with monkeypatch.context() as patch:
        patch.setattr(module, "answer_question", lost)
        response = await bot.post(WEBHOOK_PATH, form)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert await scalar(bot.core.db, "SELECT count(*) FROM dead_letter") == 0
    assert await scalar(bot.core.db, "SELECT count(*) FROM processed_message") == 0
    retried = await bot.post(WEBHOOK_PATH, form)
    assert retried.status_code == 200 and "Rs 1,000" in twiml_messages(retried)[0]


# --- outbound notifications ----------------------------------------------------------------------------------


async def test_notification_inside_the_24_hour_window_is_free_text(bot: Bot, fake: FakeTwilio) -> None:
    await bot.say("hello")
    text = 'Your complaint KP-2025-0001 is now in progress.\nReply "status" for details.'
    sent = await bot.channel.send(WA_ID, text)
    [record] = fake.answered()
    assert sent.external_id == record.sid and (record.sid or "").startswith("SM")
    assert (record.account_sid, record.auth_user) == (ACCOUNT_SID, ACCOUNT_SID)
    assert record.form["To"] == f"whatsapp:+{WA_ID}" and record.form["From"] == SENDER
    assert record.form["Body"] == text
    assert record.form["StatusCallback"] == f"{PUBLIC_URL}/whatsapp/status"
    assert "ContentSid" not in record.form


async def test_notification_outside_the_window_uses_the_template(
    bot: Bot, fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.say("hello")
    await set_last_inbound(bot.core.db, WA_ID, utcnow() - dt.timedelta(hours=25))
    sent = await bot.channel.send(WA_ID, "Complaint KP-2025-0001 was resolved.\n\nThank you.")
    await bot.channel.send("923110000000", "A user who never wrote to us")
    first, second = fake.answered()
    assert sent.external_id == first.sid
    assert first.form["ContentSid"] == TEMPLATE_SID and "Body" not in first.form
    assert json.loads(first.form["ContentVariables"]) == {"1": "Complaint KP-2025-0001 was resolved. / Thank you."}
    assert first.form["StatusCallback"] == f"{PUBLIC_URL}/whatsapp/status"
    assert second.form["ContentSid"] == TEMPLATE_SID and second.form["To"] == "whatsapp:+923110000000"

    # Without a template nothing can be sent outside the window, and retrying will not change that.
    monkeypatch.setattr(
        bot.channel, "settings", bot.channel.settings.model_copy(update={"twilio_template_content_sid": None})
    )
    with pytest.raises(SendError) as refused:
        await bot.channel.send(WA_ID, "another update")
    assert not refused.value.retryable and "TWILIO_TEMPLATE_CONTENT_SID" in str(refused.value)
    assert len(fake.requests) == 2


async def test_send_that_times_out_is_retryable_and_not_lost(
    bot: Bot, fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bot.say("hello")
    quick = bot.channel.settings.model_copy(update={"twilio_send_timeout_seconds": 0.3})
    monkeypatch.setattr(bot.channel, "settings", quick)
    text = "Your complaint KP-2025-0002 was received."
    fake.mode = "hang"
    async with asyncio.timeout(WAIT):  # the send gives up on its own, long before this
        with pytest.raises(SendError) as timed_out:
            await bot.channel.send(WA_ID, text)
    assert timed_out.value.retryable and "did not answer" in str(timed_out.value)
    assert fake.answered() == []
    fake.mode = "ok"  # Twilio is back: the outbox's next attempt goes through
    sent = await bot.channel.send(WA_ID, text)
    [record] = fake.answered()
    assert record.form["Body"] == text and sent.external_id == record.sid


@pytest.mark.parametrize(("status", "code", "retryable"), [(500, 20500, True), (429, 20429, True), (400, 21211, False)])
async def test_twilio_errors_say_whether_to_retry(
    bot: Bot, fake: FakeTwilio, status: int, code: int, retryable: bool
) -> None:
    await bot.say("hello")
    fake.mode, fake.error_status, fake.error_code = "error", status, code
    with pytest.raises(SendError) as failed:
        await bot.channel.send(WA_ID, "update")
    assert failed.value.retryable is retryable
    assert str(code) in str(failed.value) and WA_ID not in str(failed.value)


async def test_send_before_start_is_retryable(core: Core, wa_settings: Settings) -> None:
    channel = WhatsAppChannel(dataclasses.replace(core, settings=wa_settings))
    with pytest.raises(SendError) as failed:
        await channel.send(WA_ID, "update")
    assert failed.value.retryable


# --- status callbacks ----------------------------------------------------------------------------------------


async def test_status_callbacks_never_move_backwards(bot: Bot, fake: FakeTwilio) -> None:
    await bot.say("hello")
    sent = await bot.channel.send(WA_ID, "Your complaint was resolved.")
    assert sent.external_id
    db = bot.core.db
    delivered = await add_notification(db, sent.external_id)
    for status in ("queued", "sent", "delivered", "sent", "queued"):
        response = await bot.post(STATUS_PATH, status_update(sent.external_id, status))
        assert response.status_code == 200
    assert await delivery(db, delivered) == ("delivered", None)
    for status in ("read", "delivered", "failed"):  # a late failure cannot undo a delivery
        response = await bot.post(STATUS_PATH, status_update(sent.external_id, status, "30008"))
        assert response.status_code == 200
    assert await delivery(db, delivered) == ("read", None)

    failed_sid = new_sid()
    failed = await add_notification(db, failed_sid)
    await bot.post(STATUS_PATH, status_update(failed_sid, "queued"))
    await bot.post(STATUS_PATH, status_update(failed_sid, "undelivered", "63016"))
    await bot.post(STATUS_PATH, status_update(failed_sid, "delivered"))
    assert await delivery(db, failed) == ("undelivered", "63016")

    # Unknown messages are acknowledged and ignored; unsigned callbacks change nothing.
    assert (await bot.post(STATUS_PATH, status_update(new_sid(), "delivered"))).status_code == 200
    forged = await bot.post(STATUS_PATH, status_update(failed_sid, "read"), signature=None)
    assert forged.status_code == 403 and await delivery(db, failed) == ("undelivered", "63016")

    # Callbacks arriving together, in any order, end at the furthest status.
    racing_sid = new_sid()
    racing = await add_notification(db, racing_sid)
    statuses = ["queued", "sending", "sent", "delivered", "read"] * 2
    random.Random(6).shuffle(statuses)
    responses = await asyncio.gather(*(bot.post(STATUS_PATH, status_update(racing_sid, s)) for s in statuses))
    assert all(response.status_code == 200 for response in responses)
    assert await delivery(db, racing) == ("read", None)


# --- the hot path's own renderings agree with twilio's ---

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from twilio.twiml.messaging_response import MessagingResponse  # noqa: E402


@given(st.lists(st.text(), max_size=4))
def test_twiml_is_written_as_twilios_messaging_response_writes_it(bodies: list[str]) -> None:
    safe = [xml_safe(body) for body in bodies]
    expected = MessagingResponse()
    for body in safe:
        expected.message(body)
    assert twiml_text(safe) == str(expected)


FORM_FIELDS = st.dictionaries(st.sampled_from(["Body", "From", "MessageSid", "WaId"]), st.text(), max_size=4)
SIGNED_URLS = st.sampled_from(
    [
        "https://sahulat.example.org/whatsapp/webhook",
        "https://sahulat.example.org:443/whatsapp/webhook",
        "http://bot.example.pk:8080/whatsapp/status?x=1",
    ]
)


@given(SIGNED_URLS, SIGNED_URLS, FORM_FIELDS, st.booleans())
def test_signature_check_agrees_with_twilios_validator(
    signed: str, checked: str, fields: dict[str, str], forged: bool
) -> None:
    """Signed for the URL with or without its port: accepted exactly when twilio's own validate accepts it."""
    validator = RequestValidator("token")
    signature = validator.compute_signature(signed, fields)
    if forged:
        signature = RequestValidator("another token").compute_signature(signed, fields)
    form = FormData(list(fields.items()))
    ours = SignatureCheck("token").valid(checked, form, signature)
    assert ours == validator.validate(checked, form, signature)


async def test_an_urdu_writer_keeps_urdu_through_digits_and_roman_writers_get_roman(bot: Bot) -> None:
    """The conversation's language is the one the user writes in; a digit (an option's number) keeps it."""
    kb = bot.core.kb
    welcome = await bot.say("السلام علیکم", wa_id="923001112233")
    assert welcome[0].startswith(kb.texts("welcome", "ur")[:20])
    parks = await bot.say("1", wa_id="923001112233")  # the menu's first option, by its number
    assert parks[0].startswith(kb.texts("parks_ask", "ur")[:20])
    switched = await bot.say("english please", wa_id="923001112233")
    assert switched[0].startswith(kb.texts("language_set", "en")[:20])
    roman = await bot.say("startup ki registration fee kitni hai", wa_id="923004445566")
    assert roman[0].startswith(kb.answer("fee_startup_registration", "roman")[:30])


async def test_a_staff_reply_reaches_whatsapp_and_the_citizens_reply_to_it_reaches_the_complaint(
    bot: Bot, fake: FakeTwilio
) -> None:
    """Text inside the 24-hour window, the invitation template outside it; a reply quoting it lands on the complaint,
    and the held text follows."""
    from sqlmodel import select

    from bot.domain.complaints import Draft, file_complaint
    from bot.domain.conversation import staff_reply
    from bot.domain.outbox import deliver_due
    from bot.models import ComplaintEvent

    await bot.say("hello")
    async with bot.core.db.session() as session, session.begin():
        draft = Draft(channel="whatsapp", user_id=WA_ID, category="other", district="swat", description="no signal")
        complaint = await file_complaint(session, draft)
        await staff_reply(session, bot.core.kb, complaint=complaint, handover=None, text="Is it back?", username="amna")
        reference = complaint.reference
    assert await deliver_due(bot.core) == 1
    [inside] = fake.answered()
    assert inside.form["Body"] == f"Staff, about your complaint {reference}: Is it back?"
    await set_last_inbound(bot.core.db, WA_ID, utcnow() - dt.timedelta(hours=25))
    async with bot.core.db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await staff_reply(session, bot.core.kb, complaint=complaint, handover=None, text="Hello?", username="amna")
    assert await deliver_due(bot.core) == 1
    outside = fake.answered()[-1]
    assert outside.form["ContentSid"] == TEMPLATE_SID and "Body" not in outside.form
    assert "Hello?" not in outside.form["ContentVariables"]  # the template invites; the text waits (test_reply_window)
    replies = await bot.say("yes it works now", OriginalRepliedMessageSid=inside.sid or "")
    assert replies[0].startswith(f"Added to your complaint {reference}")
    async with bot.core.db.session() as session:
        said = (await session.exec(select(ComplaintEvent).where(ComplaintEvent.kind == "citizen_message"))).one()
    assert said.note == "yes it works now" and said.actor == "citizen"
    assert await deliver_due(bot.core) == 1
    assert fake.answered()[-1].form["Body"] == f"Staff, about your complaint {reference}: Hello?"
