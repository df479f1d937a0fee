"""The audit trail: who did what, when and from where, for staff sign-ins, exports and account and key changes.

Written in the same transaction as the action it records, so an action that did not happen leaves no row, and one
that did always does. Rows are only added: nothing here (or anywhere) updates or deletes them. Shown to admins at
/staff/audit and exported as CSV from there.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import AuditEvent, utcnow
from bot.storage import audit as stored

ACTIONS = (
    "sign_in",
    "sign_in_failed",
    "sign_in_throttled",
    "sign_out",
    "export",
    "account_added",
    "account_changed",
    "account_unlocked",
    "api_key_added",
    "api_key_revoked",
    "knowledge_changed",
    "routing_changed",
    "canned_replies_changed",
)
CLI = "cli"  # the actor of a terminal command (whoever has the server's shell and database)
PAGE_SIZE = 100
MAX_EXPORT_ROWS = 100_000
CSV_COLUMNS = ("time", "actor", "action", "target", "client", "detail")


def record(
    session: AsyncSession,
    action: str,
    /,
    *,
    actor: str,
    client: str | None = None,
    target: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add one event to the session (committed with the action it records)."""
    event = AuditEvent(
        action=action,
        actor=actor[:80],
        client=client[:64] if client else None,
        target=target[:200] if target else None,
        detail=detail,
        created_at=utcnow(),
    )
    session.add(event)
    return event


async def record_knowledge(session: AsyncSession, files: dict[str, str], *, actor: str) -> AuditEvent | None:
    """Record the knowledge base's files (path: hash) when they differ from the last version recorded, naming the
    files added, changed and removed; None when nothing changed. Run on every `sahulat db upgrade` (the release
    step of a deploy, and `make run`), so each version that went live is in the trail."""
    last = await stored.latest(session, "knowledge_changed")
    before: dict[str, str] = dict(last.detail.get("files", {})) if last is not None else {}
    if files == before:
        return None
    return record(
        session,
        "knowledge_changed",
        actor=actor,
        target=f"{len(files)} files",
        files=files,
        added=sorted(set(files) - set(before)),
        changed=sorted(name for name in files if name in before and files[name] != before[name]),
        removed=sorted(set(before) - set(files)),
        first=not before,
    )


@dataclass
class AuditFilters:
    """What an admin asked to see: by actor, action and day (UTC); a bad value is dropped and reported."""

    actor: str = ""
    action: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    page: int = 1
    errors: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> AuditFilters:
        filters = cls(actor=params.get("actor", "").strip().lower()[:80])
        action = params.get("action", "").strip()
        if action and action not in ACTIONS:
            filters.errors.append(f"unknown action {action!r}")
        else:
            filters.action = action
        for name in ("since", "until"):
            raw = params.get(name, "").strip()
            if not raw:
                continue
            try:
                day = dt.date.fromisoformat(raw)
            except ValueError:
                filters.errors.append(f"{name}: {raw!r} is not a date (YYYY-MM-DD)")
                continue
            if dt.date(2000, 1, 1) <= day <= dt.date(2999, 12, 31):
                setattr(filters, name, day)
            else:
                filters.errors.append(f"{name}: {raw!r} is out of range")
        page = params.get("page", "1").strip()
        filters.page = min(int(page), 100_000) if page.isdigit() and int(page) > 0 else 1
        return filters

    def matching(self) -> dict[str, Any]:
        """The filters as bot.storage.audit.events takes them."""
        return {"actor": self.actor, "action": self.action, "since": self.since, "until": self.until}

    def query_params(self, page: int | None = None) -> dict[str, str]:
        params = {
            "actor": self.actor,
            "action": self.action,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "page": str(page) if page and page > 1 else "",
        }
        return {key: value for key, value in params.items() if value}


async def page(session: AsyncSession, filters: AuditFilters) -> tuple[list[AuditEvent], bool]:
    """One page of events, newest first, and whether there is another."""
    rows = await stored.events(
        session, **filters.matching(), offset=(filters.page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1
    )
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


async def all_matching(session: AsyncSession, filters: AuditFilters) -> list[AuditEvent]:
    return await stored.events(session, **filters.matching(), limit=MAX_EXPORT_ROWS)


def describe(event: AuditEvent) -> str:
    if event.action == "knowledge_changed" and event.detail.get("first"):
        return f"the first version recorded: {len(event.detail.get('files', {}))} files"
    if event.action == "knowledge_changed":  # the file list is long: say what changed
        parts = [
            f"{key}: {', '.join(event.detail.get(key) or []) or 'none'}" for key in ("added", "changed", "removed")
        ]
        return "; ".join(parts)
    return ", ".join(f"{key}: {value}" for key, value in sorted(event.detail.items()))


def _cell(value: str) -> str:
    """Text a spreadsheet would run as a formula starts with a quote instead (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_lines(events: list[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        detail = json.dumps(event.detail, ensure_ascii=False, sort_keys=True)
        cells = [event.created_at.isoformat(), event.actor, event.action, event.target or "", event.client or ""]
        writer.writerow([_cell(c) for c in [*cells, detail]])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
