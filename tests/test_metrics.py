"""Operators can see it (issue 19): /metrics counts what happened, and logs can be JSON lines with a request id."""

from __future__ import annotations

import json
import logging
import re

import pytest

from bot.logs import configure, request_id
from bot.models import Notification

from .test_whatsapp import WEBHOOK_PATH, Bot, inbound, wa_settings  # noqa: F401  (the `bot` fixture's needs)
from .test_whatsapp import bot as bot  # noqa: F401,PLC0414
from .test_whatsapp import fake as fake  # noqa: F401,PLC0414

pytestmark = pytest.mark.filterwarnings(
    "ignore:BasicAuth is deprecated:DeprecationWarning", "ignore:The 'auth' parameter is deprecated:DeprecationWarning"
)


def sample(page: str, name: str, **labels: str) -> float:
    """A sample's value on the metrics page (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}(\{{{re.escape(wanted)}\}})? ([0-9.e+-]+)$" if labels else rf"^{name} ([0-9.e+-]+)$"
    for line in page.splitlines():
        found = re.match(pattern, line)
        if found:
            return float(found.groups()[-1])
    return 0.0


async def test_metrics_count_messages_and_show_the_outbox(bot: Bot) -> None:  # noqa: F811
    before = (await bot.http.get("/metrics")).text
    answered = sample(before, "sahulat_messages_total", channel="whatsapp", intent="answer")
    timed = sample(before, "sahulat_message_handling_seconds_count", channel="whatsapp")
    form = inbound("startup registration fee")
    assert (await bot.post(WEBHOOK_PATH, form)).status_code == 200
    assert (await bot.post(WEBHOOK_PATH, form)).status_code == 200  # a redelivery: counted as a duplicate
    async with bot.core.db.session() as session, session.begin():
        session.add(Notification(channel="whatsapp", user_id="923001234567", text="update", status="pending"))
    response = await bot.http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    page = response.text
    assert sample(page, "sahulat_messages_total", channel="whatsapp", intent="answer") == answered + 1
    assert sample(page, "sahulat_messages_total", channel="whatsapp", intent="duplicate") >= 1
    assert sample(page, "sahulat_message_handling_seconds_count", channel="whatsapp") == timed + 2
    assert sample(page, "sahulat_outbox_depth", status="pending") >= 1
    assert sample(page, "sahulat_outbox_oldest_seconds") >= 0


async def test_5xx_answers_are_counted(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from sqlalchemy.exc import OperationalError

    before = sample((await bot.http.get("/metrics")).text, "sahulat_http_5xx_total", status="503")

    async def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database down"))

    monkeypatch.setattr(bot.core.dispatcher, "handle", down)  # the database, outside the product, is down
    assert (await bot.post(WEBHOOK_PATH, inbound("hello"))).status_code == 503
    monkeypatch.undo()
    assert sample((await bot.http.get("/metrics")).text, "sahulat_http_5xx_total", status="503") == before + 1


async def test_metrics_can_require_a_token(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(bot.core, "settings", bot.core.settings.model_copy(update={"metrics_token": "s3cret"}))
    assert (await bot.http.get("/metrics")).status_code == 403
    assert (await bot.http.get("/metrics", headers={"Authorization": "Bearer s3cret"})).status_code == 200


def test_json_logs_carry_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure("INFO", "json")
        token = request_id.set("whatsapp:SM0001")
        logging.getLogger("sahulat.test").info("handled %s", "a message")
        request_id.reset(token)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "handled a message" and line["request_id"] == "whatsapp:SM0001"
    assert line["level"] == "INFO" and line["logger"] == "sahulat.test"
