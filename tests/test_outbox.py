"""Notifications go out once (issue 19): a send slower than the lease is not taken over, and a database restart
between the network taking a message and its record does not send it again. Real twilio client, fake Messages API
on 127.0.0.1 (tests/fake_twilio.py); SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from bot.channels.whatsapp import send as whatsapp_send
from bot.channels.whatsapp.channel import WhatsAppChannel
from bot.core import Core
from bot.db import Database
from bot.domain.outbox import deliver_due
from bot.models import Notification, UserProfile, utcnow
from bot.settings import Settings

from .fake_twilio import FakeTwilio, running_fake
from .test_whatsapp import WA_ID, whatsapp_settings

pytestmark = pytest.mark.filterwarnings(
    "ignore:BasicAuth is deprecated:DeprecationWarning", "ignore:The 'auth' parameter is deprecated:DeprecationWarning"
)


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTwilio]:
    async with running_fake() as fake:
        monkeypatch.setattr(whatsapp_send, "new_http_client", fake.http_client)
        yield fake


@asynccontextmanager
async def sender(core: Core, settings: Settings, lease: float) -> AsyncIterator[Core]:
    """A core whose WhatsApp channel sends through the fake, with outbox leases of `lease` seconds."""
    changed = whatsapp_settings(settings, outbox_lease_seconds=lease)
    sending = dataclasses.replace(core, settings=changed, channels={})
    channel = WhatsAppChannel(sending)
    await channel.start()
    sending.channels["whatsapp"] = channel
    try:
        yield sending
    finally:
        await channel.stop()


async def queue(core: Core, texts: list[str]) -> None:
    async with core.db.session() as session, session.begin():
        session.add(UserProfile(channel="whatsapp", user_id=WA_ID, last_inbound_at=utcnow()))  # inside the window
        for text in texts:
            session.add(Notification(channel="whatsapp", user_id=WA_ID, text=text))


async def rows(core: Core) -> list[Notification]:
    async with core.db.session() as session:
        return list(await session.exec(select(Notification).order_by(Notification.id)))


async def test_a_send_slower_than_the_lease_is_not_sent_twice(core: Core, settings: Settings, fake: FakeTwilio) -> None:
    """Each send takes longer than the lease; two senders work the outbox at once. The lease is extended while a send
    runs, so neither takes over a row the other is still sending. (A lease of 1 s, not less: a loaded test machine
    may hold a heartbeat back a few tenths of a second, which a production lease of minutes never notices.)"""
    fake.delay = 1.5
    texts = [f"Update {n} on your complaint" for n in range(3)]
    await queue(core, texts)
    async with sender(core, settings, lease=1.0) as first, sender(core, settings, lease=1.0) as second:
        working = asyncio.create_task(deliver_due(first))
        sent = []
        while not working.done():  # the other sender comes round as a worker does, every interval
            sent.append(await deliver_due(second))
            await asyncio.sleep(0.1)
        sent.append(await working)
    assert sum(sent) == len(texts)
    bodies = [record.form["Body"] for record in fake.requests]
    assert sorted(bodies) == sorted(texts)  # every one once, none twice
    assert {(row.status, row.attempts, row.claim_token) for row in await rows(core)} == {("sent", 1, None)}


class DatabaseLink:
    """A TCP relay between the product and PostgreSQL on 127.0.0.1: `cut()` ends every connection and refuses new
    ones (connection refused), as a stopped server would; `restore()` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.server: asyncio.Server | None = None
        self.listen_port = 0
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.listen_port, reuse_address=True)
        self.listen_port = self.server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self.links |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    target.write(data)
                    await target.drain()
            except OSError:
                pass
            finally:
                target.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for link in list(self.links):
            link.close()
        self.links.clear()

    async def restore(self) -> None:
        await self.start()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # a server that restarts: PostgreSQL
async def test_a_database_restart_after_the_network_took_a_message_does_not_send_it_again(
    core: Core, settings: Settings, fake: FakeTwilio, database_url: str
) -> None:
    """PostgreSQL goes away (connections end, new ones refused) just after Twilio took the message, and comes
    back 1 s later: recording "sent" is retried until it is back, so a second sender after the lease finds
    nothing to send."""
    target = make_url(database_url)
    link = DatabaseLink(target.host or "127.0.0.1", target.port or 5432)
    await link.start()
    relayed = Database(target.set(host="127.0.0.1", port=link.listen_port).render_as_string(hide_password=False))
    through_link = dataclasses.replace(core, db=relayed)

    async def restart_after_accepting() -> None:
        fake.on_accept = None
        await link.cut()
        asyncio.get_running_loop().call_later(1.0, lambda: asyncio.ensure_future(link.restore()))

    fake.on_accept = restart_after_accepting
    await queue(core, ["Your complaint CMP-2026-000009 is resolved"])
    try:
        async with sender(through_link, settings, lease=2.5) as first:
            assert await deliver_due(first) == 1
        async with sender(core, settings, lease=2.5) as second:
            await asyncio.sleep(2.7)  # past the first claim's lease
            assert await deliver_due(second) == 0
    finally:
        await relayed.dispose()
        if link.server is not None:
            link.server.close()
    assert len(fake.requests) == 1
    [row] = await rows(core)
    assert (row.status, row.attempts) == ("sent", 1)
