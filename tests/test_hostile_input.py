"""Hostile and broken input to the core: any Unicode, empty text, huge messages; always a clear reply."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.db import Database
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming

from .conftest import make_dispatcher, reset_schema, sahulat

TRICKY = [
    "\u200f",
    "\u200e",
    "\u200d",
    "\u202e",
    "\ufeff",
    "\u0000",
    "\u0007",
    "👨‍👩‍👧",
    "🇵🇰",
    "ﷺ",
    "ـ",
    "\u0670",
    "\n",
    "\t",
]


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def core_dispatcher(loop, knowledge, tmp_path_factory) -> Iterator[Dispatcher]:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('hostile') / 'h.db'}"
    loop.run_until_complete(reset_schema(url))
    db = Database(url)
    yield make_dispatcher(db, knowledge, rate_limit=(10**9, dt.timedelta(seconds=1)))
    loop.run_until_complete(db.dispose())


text_strategy = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=5)), max_size=60).map("".join),
    st.sampled_from(["", " ", "\n\n\t ", "\u200b" * 50, "؟؟؟", "۱۲۳", "/", "/status", "/unknown_cmd x", "status"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=text_strategy, user=st.sampled_from(["a", "b", "c"]), channel=st.sampled_from(["telegram", "whatsapp"]))
def test_any_text_gets_a_clear_reply(core_dispatcher: Dispatcher, loop, text: str, user: str, channel: str) -> None:  # type: ignore[no-untyped-def]
    msg = Incoming(channel=channel, user_id=user, text=text, message_id=uuid.uuid4().hex)
    outcome = loop.run_until_complete(core_dispatcher.handle(msg))
    if outcome.intent == "handover_message":  # some text asked for a person: staff answer, the bot is quiet
        return
    assert outcome.replies, text
    assert all(reply.text.strip() for reply in outcome.replies)


@pytest.mark.parametrize("size", [100_000, 4_001])
def test_huge_messages(core_dispatcher: Dispatcher, loop, size: int) -> None:  # type: ignore[no-untyped-def]
    outcome = loop.run_until_complete(
        core_dispatcher.handle(Incoming(channel="telegram", user_id="big", text="ا" * size))
    )
    assert outcome.intent == "too_long" and outcome.replies[0].text


def test_huge_message_inside_a_flow(core_dispatcher: Dispatcher, loop) -> None:  # type: ignore[no-untyped-def]
    for text in ["/complain", "5", "Swat"]:
        loop.run_until_complete(core_dispatcher.handle(Incoming(channel="telegram", user_id="flow", text=text)))
    outcome = loop.run_until_complete(
        core_dispatcher.handle(Incoming(channel="telegram", user_id="flow", text="x " * 60_000))
    )
    assert outcome.intent == "too_long"
    still = loop.run_until_complete(core_dispatcher.handle(Incoming(channel="telegram", user_id="flow", text="short")))
    assert "at least 3 words" in still.replies[0].text  # the flow is still at the description step


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RATE_LIMIT_MESSAGES", "lots"), ("TELEGRAM_MODE", "carrier-pigeon"), ("FLOW_TIMEOUT_MINUTES", "-5")],
)
def test_bad_configuration_is_a_clear_error(variable: str, value: str, tmp_path: Path) -> None:
    env = {**os.environ, variable: value, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    code, _, err = sahulat("ask", "hello", env=env)
    assert code == 1
    assert "bad configuration" in err and variable.lower() in err.lower()
    assert "Traceback" not in err
    assert not (tmp_path / "x.db").exists()  # nothing half-written
