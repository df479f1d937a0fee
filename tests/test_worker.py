"""`sahulat worker`: the Procfile's notification sender runs, sends due rows and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

from sqlmodel import select

from bot.db import Database
from bot.migrate import upgrade
from bot.models import Notification

from .conftest import ROOT, SAHULAT


def test_worker_processes_the_outbox_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}"
    upgrade(url)

    async def queue() -> None:
        db = Database(url)
        async with db.session() as session, session.begin():
            session.add(Notification(channel="console", user_id="someone", text="Update on your complaint"))
        await db.dispose()

    async def status() -> str:
        db = Database(url)
        async with db.session() as session:
            row = (await session.exec(select(Notification))).one()
        await db.dispose()
        return f"{row.status}: {row.last_error}"

    asyncio.run(queue())
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    worker = subprocess.Popen(
        [SAHULAT, "worker", "--interval", "0.2"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and asyncio.run(status()).startswith("pending"):
            time.sleep(0.2)
        # A console user cannot be messaged first: the row is closed, not retried for ever.
        assert asyncio.run(status()) == "failed: channel cannot message users first"
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=20)[0].decode()
    assert worker.returncode == 0, output
    assert "worker: sending notifications every 0.2 s" in output


async def test_worker_killed_mid_send_the_notification_goes_out_once(tmp_path: Path) -> None:
    """SIGKILL while Telegram has not answered: after the lease a new worker sends it, and it arrives once."""
    from .fake_telegram import TOKEN, FakeTelegram

    url = f"sqlite+aiosqlite:///{tmp_path / 'killed.db'}"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    async with db.session() as session, session.begin():
        session.add(Notification(channel="telegram", user_id="4242", text="Update on CMP-2026-000007: resolved"))

    async def row() -> Notification:
        async with db.session() as session:
            return (await session.exec(select(Notification))).one()

    fake = FakeTelegram()
    await fake.start()
    fake.hanging["sendMessage"] = asyncio.Event()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_MODE": "polling",
        "OUTBOX_LEASE_SECONDS": "2",
    }
    env.pop("PUBLIC_URL", None)

    async def worker() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            SAHULAT,
            "worker",
            "--interval",
            "0.2",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    async def until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
        for _ in range(200):
            if await condition():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    first = await worker()
    try:
        await until(lambda: _async(bool(fake.called("sendMessage"))), "the first send attempt")
        first.kill()  # mid-send: Telegram has not answered
        await first.wait()
        fake.hanging.pop("sendMessage").set()  # the hung request's caller is gone: nothing is delivered
        assert (await row()).status == "sending"
        assert not [call for call in fake.answered if call.method == "sendMessage"]
        second = await worker()
        try:
            await until(lambda: _status_is(row, "sent"), "the notification to be sent after the lease")
        finally:
            second.terminate()
            await second.wait()
        delivered = [call.params["text"] for call in fake.answered if call.method == "sendMessage"]
        assert delivered == ["Update on CMP-2026-000007: resolved"]
        assert (await row()).attempts == 2
    finally:
        if first.returncode is None:
            first.kill()
        await fake.stop()
        await db.dispose()


async def _async(value: bool) -> bool:
    return value


async def _status_is(row, status: str) -> bool:  # type: ignore[no-untyped-def]
    return (await row()).status == status
