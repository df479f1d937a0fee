"""The overview by body (/staff/overview): for complaints filed in a date range, per body, how many were received,
the share resolved on time, the median time to resolve, how many are overdue now, the reopen rate and the average
rating. The same table is the page's and the CSV's.

Definitions (the page says them too):
- resolved: resolved at least once and not reopened since (status resolved or closed, with its resolution time);
- on time: resolved at or before its due time (a complaint with no due time counts as on time);
- overdue now: open (received or in review; waiting for the citizen pauses the clock) and past its due time;
- reopen rate: complaints reopened (by the citizen or by staff), of those resolved at least once (resolved now, or
  reopened);
- average rating: of the complaints the citizen rated.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.complaints import OPEN_STATUSES
from bot.models import Complaint, StaffUser, utcnow
from bot.staff import queries
from bot.storage.overview import Row, complaint_rows

ALL = "all"
UNROUTED_NAME = "Unrouted"
CSV_HEADER = (
    "body",
    "body_name",
    "received",
    "resolved",
    "on_time_percent",
    "median_hours_to_resolve",
    "overdue_now",
    "reopen_rate_percent",
    "average_rating",
    "ratings",
)


@dataclass(frozen=True)
class BodyFigures:
    body: str  # a body's id, "unrouted", or "all" for the total row
    name: str
    received: int
    resolved: int
    on_time_percent: float | None
    median_hours: float | None
    overdue_now: int
    reopen_rate_percent: float | None
    average_rating: float | None
    ratings: int


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def figures_of(body: str, name: str, rows: list[Row], now: dt.datetime) -> BodyFigures:
    resolved = [r for r in rows if r.resolved_at is not None and r.status in ("resolved", "closed")]
    on_time = sum(1 for r in resolved if r.due_at is None or r.resolved_at <= r.due_at)  # type: ignore[operator]
    hours = [max(0.0, (r.resolved_at - r.created_at).total_seconds() / 3600) for r in resolved]  # type: ignore[operator]
    ever_resolved = [r for r in rows if r.reopened or r in resolved]
    ratings = [r.rating for r in rows if r.rating is not None]
    return BodyFigures(
        body=body,
        name=name,
        received=len(rows),
        resolved=len(resolved),
        on_time_percent=_percent(on_time, len(resolved)),
        median_hours=statistics.median(hours) if hours else None,
        overdue_now=sum(1 for r in rows if r.status in OPEN_STATUSES and r.due_at is not None and r.due_at <= now),
        reopen_rate_percent=_percent(sum(1 for r in ever_resolved if r.reopened), len(ever_resolved)),
        average_rating=round(float(statistics.mean(ratings)), 2) if ratings else None,
        ratings=len(ratings),
    )


def conditions(user: StaffUser | None, since: dt.date | None, until: dt.date | None, body: str) -> list[object]:
    """The account's scope, the filing dates (local days, both ends included) and the body asked for."""
    found: list[object] = list(queries.scope_conditions(user))
    if since:
        found.append(Complaint.created_at >= queries.local_day_start(since))  # type: ignore[operator]
    if until:
        found.append(Complaint.created_at < queries.local_day_start(until + dt.timedelta(days=1)))  # type: ignore[operator]
    if body == queries.UNROUTED:
        found.append(Complaint.body_id.is_(None))  # type: ignore[union-attr]
    elif body:
        found.append(Complaint.body_id == body)
    return found


async def table(
    session: AsyncSession,
    user: StaffUser | None,
    names: dict[str, str],
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    body: str = "",
    now: dt.datetime | None = None,
) -> list[BodyFigures]:
    """One row per body with complaints in range (every known body when none is asked for), unrouted last if any,
    then the total row."""
    now = now or utcnow()
    rows = await complaint_rows(session, conditions(user, since, until, body))  # type: ignore[arg-type]
    by_body: dict[str | None, list[Row]] = {}
    for row in rows:
        by_body.setdefault(row.body_id, []).append(row)
    shown = [body] if body and body != queries.UNROUTED else ([] if body else sorted(names, key=names.get))  # type: ignore[arg-type]
    result = [figures_of(b, names.get(b, b), by_body.get(b, []), now) for b in shown]
    if (not body and None in by_body) or body == queries.UNROUTED:
        result.append(figures_of(queries.UNROUTED, UNROUTED_NAME, by_body.get(None, []), now))
    result.append(figures_of(ALL, "All bodies", rows, now))
    return result


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def csv_text(figures: Iterable[BodyFigures]) -> str:
    """The table as CSV (empty cells where there is nothing to divide by)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for f in figures:
        median = None if f.median_hours is None else round(f.median_hours, 1)
        writer.writerow(
            (
                f.body,
                f.name,
                f.received,
                f.resolved,
                _number(f.on_time_percent),
                _number(median),
                f.overdue_now,
                _number(f.reopen_rate_percent),
                _number(f.average_rating),
                f.ratings,
            )
        )
    return buffer.getvalue()
