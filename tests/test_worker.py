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
