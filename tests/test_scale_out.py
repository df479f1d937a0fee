"""Two real server processes on one PostgreSQL: the production shape, under concurrent and duplicated traffic.

Each server is `sahulat run` in its own process, with Telegram in webhook mode (against the fake Bot API on
127.0.0.1) and WhatsApp on (signed with Twilio's validator). Nothing is shared between them but the database.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from .conftest import ROOT, SAHULAT, TEST_SECRET_KEY, _postgres_url, free_port, reset_schema, scalar
from .fake_telegram import TOKEN, FakeTelegram, wait_until

AUTH_TOKEN = "scale-out-auth-token-0123456789"
PUBLIC_URL = "https://sahulat.example.org"
SECRET = "scale_out_secret"
VALIDATOR = RequestValidator(AUTH_TOKEN)


@pytest.fixture
async def postgres_url() -> str:
    url = _postgres_url()
    await reset_schema(url)
    return url


@asynccontextmanager
async def servers(url: str, fake: FakeTelegram, count: int = 2) -> AsyncIterator[list[httpx.AsyncClient]]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PUBLIC_URL": PUBLIC_URL,
        "SECRET_KEY": TEST_SECRET_KEY,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
        "OUTBOX_IN_WEB": "false",
        "RATE_LIMIT_MESSAGES": "10000",
        "LOG_LEVEL": "WARNING",
    }
    ports = [free_port() for _ in range(count)]
    processes = [
        await asyncio.create_subprocess_exec(
            SAHULAT,
            "run",
            "--port",
            str(port),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for port in ports
    ]
    # A new connection per request: on a loaded machine a kept-alive connection can be closed by the server's idle
    # timeout just as the next request goes out on it (HTTP/1.1's keep-alive race, a ReadError that is not ours).
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=no_reuse) for port in ports]
    try:
        for client in clients:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("a server did not start within 30 s")
        yield clients
    finally:
        for client in clients:
            await client.aclose()
        for process in processes:
            process.terminate()
        for process in processes:
            await asyncio.wait_for(process.wait(), timeout=30)


async def whatsapp(client: httpx.AsyncClient, wa_id: str, text: str, sid: str | None = None) -> str:
    """POST one signed WhatsApp message; the TwiML reply's text."""
    form = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "From": f"whatsapp:+{wa_id}",
        "WaId": wa_id,
        "Body": text,
        "NumMedia": "0",
        "ProfileName": "Citizen",
    }
    signature = VALIDATOR.compute_signature(f"{PUBLIC_URL}/whatsapp/webhook", form)
    response = await client.post("/whatsapp/webhook", data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text
    return re.sub(r"<[^>]+>", "\n", response.text)


COMPLAINT_STEPS: list[tuple[str, str]] = [
    ("/complain", "What is the complaint about"),
    ("5", "Which city or district"),
    ("Swat", "Describe the problem"),
    ("", "photo or document"),  # the description, filled in per complaint
    ("skip", "location"),
    ("skip", "contact you"),
    ("no", "Please check your complaint"),
    ("confirm", "Reference: CMP-"),
]


async def file_complaint(clients: list[httpx.AsyncClient], wa_id: str, description: str, start: int = 0) -> str:
    """Walk the whole flow, each step on the next server in turn; returns the reference."""
    reply = ""
    for step, (text, expected) in enumerate(COMPLAINT_STEPS):
        client = clients[(start + step) % len(clients)]
        reply = await whatsapp(client, wa_id, text or description)
        assert expected in reply, (step, reply)
    match = re.search(r"CMP-\d{4}-\d{6}", reply)
    assert match
    return match.group(0)


async def test_a_flow_moves_between_servers_step_by_step(postgres_url: str, fake: FakeTelegram) -> None:
    async with servers(postgres_url, fake) as clients:
        reference = await file_complaint(clients, "923001110000", "The park generator has been broken for weeks")
        detail = await whatsapp(clients[1], "923001110000", f"status {reference}")
        assert reference in detail and "Received" in detail


async def test_duplicates_delivered_to_both_servers_at_once(postgres_url: str, fake: FakeTelegram) -> None:
    async with servers(postgres_url, fake) as clients:
        sid = "SM" + uuid.uuid4().hex
        replies = await asyncio.gather(*(whatsapp(c, "923002220000", "stp in swat", sid=sid) for c in clients))
        assert replies[0] == replies[1] and "Swat" in replies[0]  # handled once; both answered with its replies

        update = fake.message_update(7001, "stp in mardan")
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        responses = await asyncio.gather(*(c.post("/telegram/webhook", json=update, headers=headers) for c in clients))
        assert [r.status_code for r in responses] == [200, 200]
        await wait_until(lambda: any("Mardan" in t for t in fake.sent_texts()), what="the Telegram reply")
        marker = fake.message_update(7001, "stp in swat")  # a later update: once it is answered, all earlier ones are
        await clients[0].post("/telegram/webhook", json=marker, headers=headers)
        await wait_until(lambda: any("Swat" in t for t in fake.sent_texts()), what="the later reply")
        await asyncio.sleep(0.5)
        assert sum("Mardan" in t for t in fake.sent_texts()) == 1
    # Three messages (a WhatsApp request's signature is claimed too, under "signature:...")
    handled = "SELECT count(*) FROM processed_message WHERE external_id NOT LIKE 'signature:%'"
    assert await scalar_url(postgres_url, handled) == 3


async def scalar_url(url: str, sql: str) -> Any:
    from bot.db import Database

    db = Database(url)
    try:
        return await scalar(db, sql)
    finally:
        await db.dispose()


async def test_200_complaints_from_50_citizens_across_both_servers(postgres_url: str, fake: FakeTelegram) -> None:
    async with servers(postgres_url, fake) as clients:

        async def citizen(number: int) -> list[str]:
            wa_id = f"92300{number:07d}"
            return [
                await file_complaint(clients, wa_id, f"Issue {uuid.uuid4().hex} reported by citizen", start=number + k)
                for k in range(4)
            ]

        references = [r for refs in await asyncio.gather(*(citizen(n) for n in range(50))) for r in refs]
    assert len(references) == 200 and len(set(references)) == 200
    assert await scalar_url(postgres_url, "SELECT count(*) FROM complaint") == 200
    assert await scalar_url(postgres_url, "SELECT count(DISTINCT reference) FROM complaint") == 200
    assert await scalar_url(postgres_url, "SELECT count(DISTINCT user_id) FROM complaint") == 50
    assert await scalar_url(postgres_url, "SELECT count(*) FROM conversation WHERE flow IS NOT NULL") == 0
