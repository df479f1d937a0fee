"""`sahulat complaints list --body/--overdue`, `complaints show` with body and due day, and `staff add --body`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

from bot.db import Database
from bot.domain.complaints import Draft, file_complaint
from bot.domain.routing import seed_defaults
from bot.domain.routing_data import load_routing
from bot.settings import Settings

from .test_staff import PASSWORD, sahulat

NOW = dt.datetime.now(dt.UTC)


async def _seed(url: str, settings: Settings) -> tuple[str, str]:
    database = Database(url)
    try:
        async with database.session() as session, session.begin():
            await seed_defaults(session, load_routing(settings.knowledge_dir))
            kp = "Khyber Pakhtunkhwa"
            late = Draft(
                channel="t", user_id="a", category="programme", district="swat", description="late", province=kp
            )
            lost = Draft(channel="t", user_id="b", category="other", district="quetta", description="new")
            first = await file_complaint(session, late, NOW - dt.timedelta(days=60))
            second = await file_complaint(session, lost, NOW)
            return first.reference, second.reference
    finally:
        await database.dispose()


def test_complaints_by_body_and_overdue(database_url: str, tmp_path: Path, settings: Settings) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}" if database_url.startswith("sqlite") else database_url
    assert sahulat(url, "staff", "bootstrap")[0] == 0  # migrates a new SQLite file
    late, lost = asyncio.run(_seed(url, settings))
    code, out, _ = sahulat(url, "complaints", "list", "--overdue")
    assert code == 0 and late in out and lost not in out and "kpitb" in out
    code, out, _ = sahulat(url, "complaints", "list", "--body", "unrouted", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["reference"] for r in rows] == [lost] and rows[0]["body"] is None
    assert rows[0]["due_at"] is not None
    code, out, _ = sahulat(url, "complaints", "list", "--body", "kpitb", "--sort", "due")
    assert code == 0 and late in out and "1 of 1" in out
    code, out, _ = sahulat(url, "complaints", "show", late)
    assert code == 0 and "body:        kpitb" in out and "due:         " in out
    added = sahulat(url, "staff", "add", "sana", "--role", "supervisor", "--body", "kpitb", stdin=PASSWORD + "\n")
    assert added[:2] == (0, "added sana (supervisor, body: kpitb)\n")
    code, _, err = sahulat(url, "staff", "add", "zed", "--role", "supervisor", "--body", "nope", stdin=PASSWORD + "\n")
    assert code == 1 and "unknown body 'nope'" in err


def test_kb_check_names_a_bad_routing_entry(tmp_path: Path, settings: Settings) -> None:
    import shutil

    from .conftest import sahulat as sahulat_in_process

    copy = tmp_path / "data"
    shutil.copytree(settings.knowledge_dir, copy)
    routing_file = copy / "routing.yaml"
    routing_file.write_text(
        routing_file.read_text(encoding="utf-8").replace(
            "{category: pseb_registration, body: pseb}", "{category: pseb_registration, body: psbe}"
        ),
        encoding="utf-8",
    )
    code, _, err = sahulat_in_process("kb", "check", "--dir", str(copy))
    assert code == 1 and "routing.yaml: rules[1]: unknown body 'psbe'" in err
