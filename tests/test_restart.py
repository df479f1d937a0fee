"""A flow started in one process continues in another (a restart, or a second worker)."""

from __future__ import annotations

import asyncio
import subprocess
import textwrap

from sqlmodel import select

from bot.db import Database
from bot.models import Conversation, UserProfile
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming

from .conftest import PYTHON, ROOT

STEP_ONE = textwrap.dedent(
    """
    import asyncio, sys
    from bot.core import build_core
    from bot.settings import Settings
    from handlers.messages import Incoming

    async def main():
        core = build_core(Settings(), database_url=sys.argv[1])
        outcome = await core.dispatcher.handle(Incoming(channel="test", user_id="walker", text="language"))
        print([o.payload for o in outcome.options])
        await core.close()

    asyncio.run(main())
    """
)


async def test_flow_survives_a_new_process(database_url: str, dispatcher: Dispatcher, db: Database) -> None:
    done = await asyncio.to_thread(
        subprocess.run, [PYTHON, "-c", STEP_ONE, database_url], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "lang:ur" in done.stdout
    async with db.session() as session:
        state = (await session.exec(select(Conversation).filter_by(user_id="walker"))).one()
    assert state.flow == "language"

    # This process never saw step one; the stored options make "2" mean Urdu here too.
    outcome = await dispatcher.handle(Incoming(channel="test", user_id="walker", text="2"))
    assert outcome.intent == "language" and outcome.language == "ur"
    async with db.session() as session:
        profile = (await session.exec(select(UserProfile).filter_by(user_id="walker"))).one()
    assert profile.language == "ur"
