"""`sahulat run` on a fresh SQLite file: reports the channels and serves /healthz."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx

from .conftest import ROOT, SAHULAT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_serves_healthz_on_a_new_sqlite_file(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "new" / "sahulat.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    for name in ("TELEGRAM_BOT_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM"):
        env.pop(name, None)
    server = subprocess.Popen(
        [SAHULAT, "run", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert response is not None, "no /healthz within 30 s"
        assert response.status_code == 200 and response.json()["database"] == "ok"
        assert database.exists()  # created on first run, folder included
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert "Telegram: off, TELEGRAM_BOT_TOKEN not set" in output
    assert "WhatsApp: off, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_FROM not set" in output
