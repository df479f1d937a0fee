"""Reading complaints for staff: filters, search, sort, pages, counts, CSV rows, figures; and assignment.

Both the dashboard and `sahulat complaints` use these, so the terminal and the browser list the same rows.
Every status change and note goes through bot/domain/complaints.py; only assignment (not there yet) lives here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func
from sqlalchemy.sql import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from bot.domain.complaints import OPEN_STATUSES, STATUSES, ComplaintError
from bot.domain.deadlines import STATES as DUE_STATES
from bot.models import Complaint, ComplaintEvent, StaffUser, utcnow
from knowledge.loader import KnowledgeBase

# Pakistan Standard Time (no daylight saving since 2009): staff think in local days, so dates and weeks use it.
LOCAL_TZ = dt.timezone(dt.timedelta(hours=5), "PKT")
PAGE_SIZE = 25
MAX_SEARCH_CHARS = 200
SORTS = {
    "newest": (col(Complaint.created_at).desc(), col(Complaint.id).desc()),
    "oldest": (col(Complaint.created_at).asc(), col(Complaint.id).asc()),
    "updated": (col(Complaint.updated_at).desc(), col(Complaint.id).desc()),
    "status": (col(Complaint.status).asc(), col(Complaint.created_at).desc(), col(Complaint.id).desc()),
    "category": (col(Complaint.category).asc(), col(Complaint.created_at).desc(), col(Complaint.id).desc()),
    "district": (col(Complaint.district).asc(), col(Complaint.created_at).desc(), col(Complaint.id).desc()),
    # soonest due first; closed complaints and those with no due time last
    "due": (
        col(Complaint.status).in_(OPEN_STATUSES).desc(),
        col(Complaint.due_at).is_(None).asc(),
        col(Complaint.due_at).asc(),
        col(Complaint.id).asc(),
    ),
}
SORT_LABELS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "updated": "Recently updated",
    "status": "Status",
    "category": "Category",
    "district": "District",
    "due": "Due soonest",
}
UNROUTED = "unrouted"  # the body filter's value for complaints no rule matched
CHANNELS = ("telegram", "whatsapp", "console", "open311")
ERASED = "erased"


# Dates a filter may name: beyond them the day arithmetic (a day's end, the zone) would overflow datetime.
FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)


@dataclass
class Filters:
    """What a staff member asked to see; parsed from a query string (web) or options (CLI)."""

    status: str = ""
    category: str = ""
    district: str = ""
    channel: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    q: str = ""
    sort: str = "newest"
    page: int = 1
    body: str = ""  # a body's id, or UNROUTED
    due: str = ""  # on_time, due_soon, overdue: open complaints only
    errors: list[str] = field(default_factory=list)
    # Not from the query: the clock and the "due soon" window the due filter reads (tests set the clock).
    now: dt.datetime | None = None
    soon: dt.timedelta = dt.timedelta(days=3)

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        """Lenient: a bad value is dropped and reported in `errors`, the rest still applies."""
        filters = cls()
        errors = filters.errors
        status = params.get("status", "").strip()
        if status and status not in STATUSES:
            errors.append(f"unknown status {status!r}")
        else:
            filters.status = status
        filters.category = params.get("category", "").strip()[:64]
        filters.district = params.get("district", "").strip()[:64]
        filters.channel = params.get("channel", "").strip()[:32]
        filters.body = params.get("body", "").strip()[:32]
        due = params.get("due", "").strip()
        if due and due not in DUE_STATES:
            errors.append(f"unknown due state {due!r}")
        else:
            filters.due = due
        for name in ("since", "until"):
            raw = params.get(name, "").strip()
            if raw:
                try:
                    day = dt.date.fromisoformat(raw)
                except ValueError:
                    errors.append(f"{name}: {raw!r} is not a date (YYYY-MM-DD)")
                    continue
                if FIRST_DAY <= day <= LAST_DAY:
                    setattr(filters, name, day)
                else:
                    errors.append(f"{name}: {raw!r} is out of range ({FIRST_DAY} to {LAST_DAY})")
        filters.q = params.get("q", "").strip()[:MAX_SEARCH_CHARS]
        sort = params.get("sort", "newest").strip() or "newest"
        if sort not in SORTS:
            errors.append(f"unknown sort {sort!r}")
        else:
            filters.sort = sort
        try:
            filters.page = max(1, min(int(params.get("page", "1") or 1), 100_000))
        except ValueError:
            errors.append("page must be a number")
        return filters

    def query_params(self, **changes: Any) -> dict[str, str]:
        """The filters as query parameters (without empty ones), e.g. for page links and the CSV link."""
        merged = replace(self, **changes)
        params = {
            "status": merged.status,
            "category": merged.category,
            "district": merged.district,
            "channel": merged.channel,
            "body": merged.body,
            "due": merged.due,
            "since": merged.since.isoformat() if merged.since else "",
            "until": merged.until.isoformat() if merged.until else "",
            "q": merged.q,
            "sort": "" if merged.sort == "newest" else merged.sort,
            "page": "" if merged.page == 1 else str(merged.page),
        }
        return {key: value for key, value in params.items() if value}


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with the wildcards % and _ (and the escape) taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def local_day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=LOCAL_TZ).astimezone(dt.UTC)


def scope_conditions(user: StaffUser | None) -> list[ColumnElement[bool]]:
    """An account limited to some categories sees only those, and an account of a body only that body's complaints
    (admins always see all; an account of no body is not limited by body)."""
    if user is None or user.role == "admin":
        return []
    conditions: list[ColumnElement[bool]] = []
    if user.categories:
        conditions.append(col(Complaint.category).in_(user.categories))
    if user.body_id:
        conditions.append(Complaint.body_id == user.body_id)
    return conditions


def may_see(user: StaffUser | None, complaint: Complaint) -> bool:
    if user is None or user.role == "admin":
        return True
    in_categories = not user.categories or complaint.category in user.categories
    return in_categories and (not user.body_id or complaint.body_id == user.body_id)


def filter_conditions(filters: Filters, user: StaffUser | None, *, with_status: bool = True) -> list[Any]:
    conditions: list[Any] = scope_conditions(user)
    if with_status and filters.status:
        conditions.append(Complaint.status == filters.status)
    if filters.category:
        conditions.append(Complaint.category == filters.category)
    if filters.district:
        conditions.append(Complaint.district == filters.district)
    if filters.channel:
        conditions.append(Complaint.channel == filters.channel)
    if filters.body:
        unrouted = filters.body == UNROUTED
        conditions.append(col(Complaint.body_id).is_(None) if unrouted else Complaint.body_id == filters.body)
    if filters.due:
        conditions += due_conditions(filters.due, filters.now or utcnow(), filters.soon)
    if filters.since:
        conditions.append(col(Complaint.created_at) >= local_day_start(filters.since))
    if filters.until:
        conditions.append(col(Complaint.created_at) < local_day_start(filters.until + dt.timedelta(days=1)))
    if filters.q:
        pattern = like_pattern(filters.q)
        conditions.append(
            col(Complaint.description).ilike(pattern, escape="\\")
            | col(Complaint.reference).ilike(pattern, escape="\\")
        )
    return conditions


def due_conditions(state: str, now: dt.datetime, soon: dt.timedelta) -> list[Any]:
    """Open complaints in one due state (bot/domain/deadlines.py's `due_state`, as SQL)."""
    due = col(Complaint.due_at)
    conditions: list[Any] = [col(Complaint.status).in_(OPEN_STATUSES), due.is_not(None)]
    if state == "overdue":
        return [*conditions, due <= now]
    if state == "due_soon":
        return [*conditions, due > now, due <= now + soon]
    return [*conditions, due > now + soon]


def filtered(filters: Filters, user: StaffUser | None) -> SelectOfScalar[Complaint]:
    return select(Complaint).where(*filter_conditions(filters, user)).order_by(*SORTS[filters.sort])


@dataclass
class Page:
    complaints: list[Complaint]
    total: int
    page: int
    pages: int


async def list_page(session: AsyncSession, filters: Filters, user: StaffUser | None, size: int = PAGE_SIZE) -> Page:
    conditions = filter_conditions(filters, user)
    total = int((await session.exec(select(func.count()).select_from(Complaint).where(*conditions))).one())
    pages = max(1, -(-total // size))
    page = min(filters.page, pages)
    rows = await session.exec(filtered(filters, user).offset((page - 1) * size).limit(size))  # type: ignore[call-overload]
    return Page(complaints=list(rows), total=total, page=page, pages=pages)


async def status_counts(session: AsyncSession, filters: Filters, user: StaffUser | None) -> dict[str, int]:
    """Complaints per status under every filter except the status one, so each count is a click away."""
    conditions = filter_conditions(filters, user, with_status=False)
    rows = await session.exec(
        select(Complaint.status, func.count()).where(*conditions).group_by(Complaint.status)  # type: ignore[call-overload]
    )
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: int(count) for status, count in rows})
    return counts


async def all_filtered(session: AsyncSession, filters: Filters, user: StaffUser | None) -> list[Complaint]:
    """Every matching complaint, no pages (the export)."""
    return list(await session.exec(filtered(filters, user)))  # type: ignore[call-overload]


async def find(session: AsyncSession, reference: str, user: StaffUser | None) -> Complaint | None:
    """The complaint by reference, if this account may see it (otherwise as unknown as a wrong reference)."""
    row = (await session.exec(select(Complaint).where(Complaint.reference == reference.strip().upper()))).first()
    return row if row is not None and may_see(user, row) else None


async def lock(session: AsyncSession, complaint_id: int) -> Complaint | None:
    """Re-read a complaint FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers)."""
    row = await session.exec(select(Complaint).where(Complaint.id == complaint_id).with_for_update())
    return row.first()


async def assign(
    session: AsyncSession,
    complaint: Complaint,
    username: str | None,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> ComplaintEvent:
    """Set (or clear, with None) who works a complaint; logged as an internal "assigned" event, not notified."""
    if (complaint.assigned_to or None) == (username or None):
        raise ComplaintError("the complaint is already assigned so")
    now = now or utcnow()
    event = ComplaintEvent(
        complaint_id=complaint.id,  # type: ignore[arg-type]
        kind="assigned",
        note=username,
        public=False,
        actor=actor,
        created_at=now,
    )
    complaint.assigned_to = username
    complaint.updated_at = now
    session.add_all([complaint, event])
    await session.flush()
    return event


async def assignable_staff(session: AsyncSession, category: str) -> list[str]:
    """Active agents, supervisors and admins whose categories include `category` (or who have none)."""
    rows = await session.exec(
        select(StaffUser).where(
            col(StaffUser.active).is_(True), col(StaffUser.role).in_(("agent", "supervisor", "admin"))
        )
    )
    return sorted(u.username for u in rows if u.role == "admin" or not u.categories or category in u.categories)


# -- names ---------------------------------------------------------------------------------------------


def category_name(kb: KnowledgeBase, code: str) -> str:
    service = kb.services.get(code)
    return service.name.en if service else code


def district_name(kb: KnowledgeBase, complaint_or_code: Complaint | str) -> str:
    if isinstance(complaint_or_code, Complaint):
        code = complaint_or_code.district
        if code == "other":
            return f"Other: {complaint_or_code.district_text}" if complaint_or_code.district_text else "Other"
    else:
        code = complaint_or_code
    place = kb.places.get(code)
    return place.name.en if place else ("Other" if code == "other" else code)


def local_time(value: dt.datetime | None) -> str:
    return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if value else ""


# -- CSV -----------------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "reference",
    "created_at",
    "updated_at",
    "status",
    "status_reason",
    "category",
    "district",
    "district_text",
    "channel",
    "language",
    "description",
    "answers",
    "attachments",
    "contact_consent",
    "assigned_to",
    "resolved_at",
    "rating",
    "body",
    "due_at",
    "escalation_level",
]
PERSONAL_COLUMNS = ["display_name", "user_id", "latitude", "longitude"]


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP's CSV-injection advice)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, dt.datetime):
        text = value.astimezone(dt.UTC).isoformat(timespec="seconds")
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_header(personal: bool) -> list[str]:
    return CSV_COLUMNS + (PERSONAL_COLUMNS if personal else [])


def csv_row(complaint: Complaint, personal: bool) -> list[str]:
    values: list[Any] = [
        complaint.reference,
        complaint.created_at,
        complaint.updated_at,
        complaint.status,
        complaint.status_reason,
        complaint.category,
        complaint.district,
        complaint.district_text,
        complaint.channel,
        complaint.language,
        complaint.description,
        complaint.answers,
        len(complaint.attachments),
        complaint.contact_consent,
        complaint.assigned_to,
        complaint.resolved_at,
        complaint.rating,
        complaint.body_id,
        complaint.due_at,
        complaint.escalation_level,
    ]
    if personal:
        if complaint.erased_at:
            values += [ERASED, ERASED, "", ""]
        else:
            values += [complaint.display_name, complaint.user_id, complaint.latitude, complaint.longitude]
    return [_cell(v) for v in values]


def csv_lines(complaints: Iterable[Complaint], personal: bool) -> Iterator[str]:
    """The export, one line at a time (a streaming response writes them as they come)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    rows = itertools.chain([csv_header(personal)], (csv_row(c, personal) for c in complaints))
    for row in rows:
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


# -- figures for the overview --------------------------------------------------------------------------


@dataclass
class Overview:
    total: int
    by_status: list[tuple[str, int]]
    by_category: list[tuple[str, int]]
    by_district: list[tuple[str, int]]
    by_week: list[tuple[dt.date, int]]
    median_hours: float | None
    median_hours_by_category: list[tuple[str, float]]
    resolved: int


def week_start(value: dt.datetime) -> dt.date:
    day = value.astimezone(LOCAL_TZ).date()
    return day - dt.timedelta(days=day.weekday())


async def overview(
    session: AsyncSession, user: StaffUser | None, weeks: int = 12, now: dt.datetime | None = None
) -> Overview:
    """The dashboard's figures: counts by GROUP BY; weeks and medians in Python, from two or three columns,
    since SQLite has neither date_trunc nor percentile_cont and both backends must agree."""
    now = now or utcnow()
    scope = scope_conditions(user)

    async def counted(column: Any) -> Counter[str]:
        rows = await session.exec(select(column, func.count()).where(*scope).group_by(column))  # type: ignore[call-overload]
        return Counter({str(value): int(n) for value, n in rows})

    status_count = await counted(Complaint.status)
    category_count = await counted(Complaint.category)
    district_count = await counted(Complaint.district)
    first_week = week_start(now) - dt.timedelta(weeks=weeks - 1)
    created = (
        await session.exec(
            select(Complaint.created_at).where(  # type: ignore[call-overload]
                *scope, col(Complaint.created_at) >= local_day_start(first_week)
            )
        )
    ).all()
    week_count = Counter(week_start(value) for value in created)
    starts = [first_week + dt.timedelta(weeks=i) for i in range(weeks)]
    by_week = [(start, week_count.get(start, 0)) for start in starts]
    resolved = (
        await session.exec(
            select(Complaint.category, Complaint.created_at, Complaint.resolved_at).where(  # type: ignore[call-overload]
                *scope, col(Complaint.status).in_(("resolved", "closed")), col(Complaint.resolved_at).is_not(None)
            )
        )
    ).all()
    hours: dict[str, list[float]] = {}
    for category, created_at, resolved_at in resolved:
        hours.setdefault(category, []).append(max(0.0, (resolved_at - created_at).total_seconds() / 3600))
    every = [h for values in hours.values() for h in values]
    return Overview(
        total=sum(status_count.values()),
        by_status=[(s, status_count.get(s, 0)) for s in STATUSES],
        by_category=category_count.most_common(),
        by_district=district_count.most_common(),
        by_week=by_week,
        median_hours=statistics.median(every) if every else None,
        median_hours_by_category=sorted(
            ((c, statistics.median(v)) for c, v in hours.items()), key=lambda item: (-item[1], item[0])
        ),
        resolved=len(every),
    )


def format_hours(hours: float | None) -> str:
    """42.5 -> "1 d 18 h"; readable at a glance, precise enough for a median."""
    if hours is None:
        return "none resolved yet"
    if hours < 1:
        return f"{round(hours * 60)} min"
    if hours < 48:
        return f"{hours:.1f} h"
    days, rest = divmod(round(hours), 24)
    return f"{days} d {rest} h"
