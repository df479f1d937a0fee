"""The rows behind the overview by body: a few columns of each complaint in range, and which were ever reopened.
The figures themselves (medians, rates) are worked out in Python (bot/staff/body_figures.py), so SQLite and
PostgreSQL agree."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Complaint, ComplaintEvent


@dataclass(frozen=True)
class Row:
    body_id: str | None
    status: str
    created_at: dt.datetime
    due_at: dt.datetime | None
    resolved_at: dt.datetime | None
    rating: int | None
    reopened: bool


async def complaint_rows(session: AsyncSession, conditions: list[Any]) -> list[Row]:
    """The complaints matching `conditions` (scope, dates, body), with whether each was ever reopened."""
    query = select(
        Complaint.id,
        Complaint.body_id,
        Complaint.status,
        Complaint.created_at,
        Complaint.due_at,
        Complaint.resolved_at,
        Complaint.rating,
    ).where(*conditions)
    found = list(await session.exec(query))  # type: ignore[call-overload]
    ids = [row[0] for row in found]
    reopened: set[int] = set()
    for start in range(0, len(ids), 500):  # IN lists in chunks: SQLite caps the parameters of one statement
        chunk = ids[start : start + 500]
        events = select(ComplaintEvent.complaint_id).where(
            ComplaintEvent.kind == "reopened", col(ComplaintEvent.complaint_id).in_(chunk)
        )
        reopened.update(await session.exec(events.distinct()))
    return [Row(b, s, c, d, r, rating, i in reopened) for i, b, s, c, d, r, rating in found]
