"""The audit trail: staff sign-ins (failed too), sign-outs, exports, account and key changes are recorded, with
who, when and from where; admins see them at /staff/audit, filtered, and export them as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
from pathlib import Path

from sqlmodel import col, select

from bot.db import Database
from bot.domain.audit import describe, record_knowledge
from bot.models import AuditEvent
from bot.settings import Settings

from .conftest import sahulat
from .test_staff import PASSWORD, Live, add_staff, csrf_of, live, login, signed_in

__all__ = ["live"]  # the fixture, shared with the dashboard's tests


async def _events(db: Database) -> list[AuditEvent]:
    async with db.session() as session:
        return list(await session.exec(select(AuditEvent).order_by(col(AuditEvent.id))))


async def test_staff_actions_are_recorded_and_shown_to_admins(live: Live) -> None:
    await add_staff(live, "agent", "agent")
    async with live.client() as client:
        assert (await login(client, "agent", "wrong password!")).status_code == 400
        assert (await login(client, "agent")).status_code == 303
        assert (await client.get("/staff/complaints.csv?status=received")).status_code == 200
        assert (await client.get("/staff/audit")).status_code == 403  # admins only
        page = (await client.get("/staff/")).text
        assert (await client.post("/staff/logout", data={"csrf": csrf_of(page)})).status_code == 303
    async with signed_in(live, "boss", "admin") as admin:
        page = (await admin.get("/staff/accounts")).text
        form = {"csrf": csrf_of(page), "username": "newbie", "role": "viewer", "password": PASSWORD}
        added = await admin.post("/staff/accounts", data=form)
        assert added.status_code == 303
        failed = await admin.get("/staff/audit", params={"action": "sign_in_failed"})
        assert failed.status_code == 200 and 'class="audit-sign_in_failed"' in failed.text
        assert 'class="audit-sign_in"' not in failed.text
        everything = (await admin.get("/staff/audit")).text
        for action in ("sign_in", "sign_out", "export", "account_added"):
            assert f'class="audit-{action}"' in everything
        exported = await admin.get("/staff/audit.csv", params={"actor": "agent"})
        rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert exported.status_code == 200 and {r["actor"] for r in rows} == {"agent"}
    events = await _events(live.db)
    assert [(e.actor, e.action) for e in events] == [
        ("agent", "sign_in_failed"),
        ("agent", "sign_in"),
        ("agent", "export"),
        ("agent", "sign_out"),
        ("boss", "sign_in"),
        ("boss", "account_added"),
        ("boss", "export"),  # the audit export records itself
    ]
    assert {e.client for e in events} == {"127.0.0.1"}
    export = events[2].detail
    assert export["personal_data"] is False and export["filters"] == {"status": "received"}
    assert events[5].target == "newbie" and events[5].detail["role"] == "viewer"
    assert "password" not in str([e.detail for e in events])


def test_terminal_commands_are_recorded(database_url: str, tmp_path: Path) -> None:
    # `sahulat` migrates a SQLite file itself (so this also runs migration 0013); the fixture's file has no history
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}" if database_url.startswith("sqlite") else database_url
    env = {**os.environ, "DATABASE_URL": url}
    assert sahulat("staff", "add", "amna", "--role", "agent", stdin=PASSWORD + "\n", env=env)[0] == 0
    assert sahulat("staff", "unlock", "amna", env=env)[0] == 0
    assert sahulat("staff", "disable", "amna", env=env)[0] == 0
    assert sahulat("open311", "key", "add", "city-portal", env=env)[0] == 0
    assert sahulat("open311", "key", "revoke", "city-portal", env=env)[0] == 0

    async def recorded() -> list[AuditEvent]:
        db = Database(url)
        try:
            return await _events(db)
        finally:
            await db.dispose()

    events = asyncio.run(recorded())
    assert [(e.actor, e.action, e.target, e.client) for e in events] == [
        ("cli", "account_added", "amna", None),
        ("cli", "account_unlocked", "amna", None),
        ("cli", "account_changed", "amna", None),
        ("cli", "api_key_added", "city-portal", None),
        ("cli", "api_key_revoked", "city-portal", None),
    ]


async def test_a_knowledge_base_version_is_recorded_once_with_what_changed(db: Database) -> None:
    first_files = {"texts.yaml": "aaaa", "entries/fees.yaml": "bbbb"}
    second_files = {"texts.yaml": "cccc", "entries/fees.yaml": "bbbb", "extra.yaml": "dddd"}
    for files in (first_files, first_files, second_files, second_files):
        async with db.session() as session, session.begin():
            await record_knowledge(session, files, actor="cli")
    first, second = [e for e in await _events(db) if e.action == "knowledge_changed"]
    assert first.actor == second.actor == "cli"
    assert (first.detail["added"], first.detail["changed"]) == (["entries/fees.yaml", "texts.yaml"], [])
    assert (second.detail["added"], second.detail["changed"], second.detail["removed"]) == (
        ["extra.yaml"],
        ["texts.yaml"],
        [],
    )
    assert describe(second) == "added: extra.yaml; changed: texts.yaml; removed: none"
    assert describe(first) == "the first version recorded: 2 files"


def test_db_upgrade_records_the_knowledge_base_that_goes_live(tmp_path: Path) -> None:
    """`sahulat db upgrade` (a deploy's release step, and `make run`) records the knowledge base's files when
    they changed since the last upgrade."""
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}"}
    knowledge = tmp_path / "knowledge"
    shutil.copytree(Settings().knowledge_dir, knowledge)
    env["KNOWLEDGE_DIR"] = str(knowledge)

    def upgrade() -> str:
        code, out, err = sahulat("db", "upgrade", env=env)
        assert code == 0, err
        return out

    assert "knowledge base changed" in upgrade()  # the first version seen
    assert "knowledge base changed" not in upgrade()  # the same files: nothing new
    texts = knowledge / "texts.yaml"
    texts.write_text(texts.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert "changed: texts.yaml" in upgrade()
