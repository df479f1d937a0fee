"""PTB's own Bot on our aiohttp client (bot.channels.telegram.aiohttp_request), against local servers."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bot.channels.telegram.aiohttp_request import AiohttpRequest

from .fake_telegram import TOKEN, FakeTelegram, free_port


async def test_a_call_goes_out_as_ptb_builds_it_and_its_answer_comes_back(fake: FakeTelegram) -> None:
    async with Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest()) as bot:
        message = await bot.send_message(42, "<b>Fees</b> &amp; exemptions", parse_mode="HTML")
    assert message.chat.id == 42 and message.message_id >= 1000
    (sent,) = fake.called("sendMessage")
    assert sent["chat_id"] == 42 and sent["text"] == "<b>Fees</b> &amp; exemptions"


async def test_a_reply_that_does_not_come_is_timed_out(fake: FakeTelegram) -> None:
    """The default read timeout, and one passed for a single call, each end the wait."""
    fake.hanging["sendMessage"] = asyncio.Event()
    try:
        async with Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest(read_timeout=0.3)) as bot:
            with pytest.raises(TimedOut):
                await bot.send_message(42, "default timeout")
        async with Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest(read_timeout=60)) as bot:
            started = time.monotonic()
            with pytest.raises(TimedOut):
                await bot.send_message(42, "timeout for this call", read_timeout=0.3)
            assert time.monotonic() - started < 30  # the call's own timeout, not the default minute
    finally:
        fake.hanging["sendMessage"].set()


async def test_an_unreachable_api_is_a_network_error() -> None:
    nobody = f"http://127.0.0.1:{free_port()}/bot"
    with pytest.raises(NetworkError) as caught:
        async with Bot(TOKEN, base_url=nobody, request=AiohttpRequest()):
            pass
    assert not isinstance(caught.value, TimedOut)
    assert "aiohttp.ClientConnectorError" in str(caught.value)


async def test_a_file_goes_out_as_multipart(fake: FakeTelegram) -> None:
    async with Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest()) as bot:
        message = await bot.send_document(42, b"%PDF-1.4 evidence", filename="evidence.pdf")
    assert message.document is not None and message.document.file_name == "evidence.pdf"
    (sent,) = fake.called("sendDocument")
    assert sent["chat_id"] == 42
    assert sent["document"] == {
        "filename": "evidence.pdf",
        "content_type": "application/pdf",
        "bytes": b"%PDF-1.4 evidence",
    }


async def test_an_answer_that_is_not_http_is_a_network_error_that_does_not_show_the_token() -> None:
    """aiohttp quotes the URL in some errors, and the URL holds the bot token; the error ends up in warnings."""

    async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(not_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(NetworkError) as caught:
            async with Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest()):
                pass
    finally:
        server.close()
        await server.wait_closed()
    assert "/bot<token>/getMe" in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN.split(":")[1] not in str(caught.value)
