"""Canned replies: placeholders filled in English, Urdu and Roman Urdu; a bad placeholder refused with the reason;
the admins' page adds, changes and deletes them; the conversation view offers them filled for the citizen; the
migration copies the defaults in. Storage parts on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from bot.db import create_engine
from bot.domain import canned
from bot.domain.conversation import request_handover
from bot.migrate import upgrade
from bot.models import AuditEvent, CannedReply, Complaint
from bot.settings import Settings

from . import test_staff
from .test_staff import Live, add_complaint, signed_in, token
from .test_staff_inbox import waiting

live = test_staff.live

REPLY = CannedReply(
    id=1,
    title="Looking into it",
    text_en="Thank you, {first_name}. We are on {reference}.",
    text_ur="شکریہ {first_name}۔ ہم {reference} پر کام کر رہے ہیں۔",
    text_roman="Shukriya {first_name}. Hum {reference} par kaam kar rahe hain.",
)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "Thank you, Ayesha. We are on CMP-2026-000007."),
        ("ur", "شکریہ Ayesha۔ ہم CMP-2026-000007 پر کام کر رہے ہیں۔"),
        ("roman", "Shukriya Ayesha. Hum CMP-2026-000007 par kaam kar rahe hain."),
    ],
)
def test_placeholders_are_filled_in_each_language(lang: str, expected: str) -> None:
    filled = canned.fill(REPLY, lang, reference="CMP-2026-000007", display_name="Ayesha Khan")
    assert filled == expected


def test_without_a_name_or_a_complaint() -> None:
    assert canned.fill(REPLY, "en", reference="CMP-2026-000007", display_name=None) == (
        "Thank you. We are on CMP-2026-000007."
    )
    assert canned.fill(REPLY, "en", reference=None, display_name="Ayesha") is None  # needs a complaint
    hello = CannedReply(title="Hi", text_en="{first_name}, hello", text_ur="x", text_roman="x")
    assert canned.fill(hello, "en", reference=None, display_name=None) == "hello"
    braces = CannedReply(title="B", text_en="Use {{braces}} for {first_name}", text_ur="x", text_roman="x")
    assert canned.fill(braces, "en", reference=None, display_name="Ali") == "Use {braces} for Ali"


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ({"en": "Hello {name}"}, r"English: unknown placeholder \{name\}; use \{reference\}, \{first_name\}"),
        ({"ur": "شکریہ {refrence}"}, r"Urdu: unknown placeholder \{refrence\}"),
        ({"roman": "Shukriya {first_name"}, r"Roman Urdu: a brace is not closed"),
        ({"en": "Hello {first_name!r}"}, r"English: unknown placeholder"),
        ({"en": "Ref {reference:>20}"}, r"English: unknown placeholder"),
        ({"en": "Stray } brace"}, r"English: a brace"),
        ({"ur": "  "}, r"Urdu: the text is empty"),
    ],
)
def test_a_bad_placeholder_is_refused_with_the_reason(texts: dict[str, str], message: str) -> None:
    good = {"en": "Hello {first_name}", "ur": "سلام {first_name}", "roman": "Salam {first_name}"}
    with pytest.raises(canned.CannedReplyError, match=message):
        canned.check("Greeting", {**good, **texts})


def test_the_default_replies_are_valid(settings: Settings) -> None:
    rows = canned.defaults(settings.knowledge_dir)
    assert len(rows) >= 3 and all(row["text_ur"] and row["text_roman"] for row in rows)


async def _titles(url: str) -> list[str]:
    engine = create_engine(url)
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT title FROM canned_reply ORDER BY title"))).all()
    await engine.dispose()
    return [row[0] for row in rows]


def test_the_migration_copies_the_defaults_in(database_url: str, settings: Settings) -> None:
    from .test_migrations import _drop_everything

    asyncio.run(_drop_everything(database_url))
    upgrade(database_url)
    assert asyncio.run(_titles(database_url)) == sorted(r["title"] for r in canned.defaults(settings.knowledge_dir))


def form(title: str, en: str, ur: str = "سلام {first_name}", roman: str = "Salam {first_name}") -> dict[str, str]:
    return {"title": title, "text_en": en, "text_ur": ur, "text_roman": roman}


async def test_admins_add_change_and_delete_and_a_bad_placeholder_is_refused(live: Live) -> None:
    async with signed_in(live, "root", "admin") as client:
        csrf = await token(client)
        added = await client.post("/staff/canned", data={"csrf": csrf, **form("Hello", "Hello {first_name}")})
        assert added.status_code == 303
        refused = await client.post("/staff/canned", data={"csrf": csrf, **form("Bad", "Dear {name}, about {ref}")})
        assert refused.status_code == 400
        assert "Not saved: English: unknown placeholder {name}; use {reference}, {first_name}." in refused.text
        assert "Dear {name}, about {ref}" in refused.text  # what was typed comes back to correct
        twice = await client.post("/staff/canned", data={"csrf": csrf, **form("Hello", "Hi {first_name}")})
        assert twice.status_code == 400 and "called &#39;Hello&#39; already" in twice.text
        async with live.db.session() as session:
            reply = (await session.exec(select(CannedReply))).one()
        changed = await client.post(
            f"/staff/canned/{reply.id}",
            data={"csrf": csrf, "action": "save", **form("Hello", "Good day {first_name}, re {reference}")},
        )
        assert changed.status_code == 303
        page = await client.get("/staff/canned")
        assert "Good day {first_name}, re {reference}" in page.text
        deleted = await client.post(f"/staff/canned/{reply.id}", data={"csrf": csrf, "action": "delete"})
        assert deleted.status_code == 303
        assert "No canned replies yet" in (await client.get("/staff/canned")).text
    async with signed_in(live, "amna", "agent") as client:
        assert (await client.get("/staff/canned")).status_code == 403
    async with live.db.session() as session:
        trail = [
            (e.action, e.actor, e.target) for e in await session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))
        ]
    assert [t for t in trail if t[0] == "canned_replies_changed"] == [
        ("canned_replies_changed", "root", "Hello"),
    ] * 3


async def test_the_conversation_view_offers_them_filled_for_the_citizen(live: Live) -> None:
    async with live.db.session() as session, session.begin():
        session.add(
            CannedReply(
                title="On it",
                text_en="Thank you {first_name}, we are on {reference}.",
                text_ur="شکریہ {first_name}، ہم {reference} پر کام کر رہے ہیں۔",
                text_roman="Shukriya {first_name}, hum {reference} par kaam kar rahe hain.",
            )
        )
        session.add(CannedReply(title="Hi", text_en="Hello {first_name}", text_ur="سلام {first_name}", text_roman="x"))
    reference = await add_complaint(live, language="ur")
    async with live.db.session() as session, session.begin():
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await request_handover(
            session, "telegram", "4242", language="ur", display_name="Ayesha Khan", complaint=complaint
        )
    ident = await waiting(live, None, "777", dt.timedelta(minutes=1))  # about no complaint, in English
    async with signed_in(live, "amna", "agent") as client:
        page = await client.get(f"/staff/complaints/{reference}")
        options = dict(re.findall(r'data-text="([^"]*)">([^<]*)</option>', page.text))
        assert options[f"شکریہ Ayesha، ہم {reference} پر کام کر رہے ہیں۔"] == "On it"
        assert options["سلام Ayesha"] == "Hi"
        on_it = re.search(r'<option value="(\d+)" data-text="[^"]*">On it', page.text)
        assert on_it is not None
        prefilled = await client.get(f"/staff/complaints/{reference}?canned={on_it.group(1)}")  # without scripts
        assert re.search(r'id="reply-text"[^>]*>شکریہ Ayesha، ہم', prefilled.text)
        new = await client.get(f"/staff/inbox/{ident}")
        titles = re.findall(r'data-text="[^"]*">([^<]*)</option>', new.text)
        assert titles == ["Hi"]  # "On it" needs a complaint's reference
        await client.post(f"/staff/inbox/{ident}/take", data={"csrf": await token(client)})


def test_kb_check_names_a_bad_default_reply(tmp_path: Path, settings: Settings) -> None:
    for source in settings.knowledge_dir.rglob("*.yaml"):
        target = tmp_path / source.relative_to(settings.knowledge_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    (tmp_path / "canned_replies.yaml").write_text(
        'replies:\n  - {title: Hi, en: "Hello {name}", ur: "سلام", roman: "Salam"}\n', encoding="utf-8"
    )
    with pytest.raises(canned.CannedReplyError, match=r"canned_replies.yaml: replies\[0\]: English: unknown"):
        canned.defaults(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "kb", "check", "--dir", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode != 0 and "invalid canned replies" in done.stdout + done.stderr
