"""The anonymous reads: the service catalogue, one service's definition, and complaints (filtered, paged)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from bot.core import Core
from bot.domain.routing import names as body_names
from bot.models import Complaint, ComplaintEvent, utcnow
from bot.open311.entries import request_entry, service_definition, service_entry
from bot.open311.formats import Open311Error, core_of, request_format, respond, w3c

DEFAULT_WINDOW = dt.timedelta(days=90)
# The dates a filter may name: beyond them Python's dates overflow, and nothing was filed anyway.
FIRST_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LAST_DATE = dt.datetime(2999, 12, 31, tzinfo=dt.UTC)
MAX_WINDOW = dt.timedelta(days=90)
MAX_REQUESTS = 1000  # ids one service_request_id list may name
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PAGE = 10_000


async def services(request: Request) -> Response:
    fmt = request_format(request)
    core = core_of(request)
    return respond(fmt, "services", "service", [service_entry(core, code) for code in core.kb.services])


async def service(request: Request) -> Response:
    fmt = request_format(request)
    core = core_of(request)
    code = request.path_params["service_code"]
    if code not in core.kb.services:
        raise Open311Error(404, f"service_code {code!r} not found")
    return respond(fmt, "service_definition", "", service_definition(core, code))


def _parse_date(name: str, value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C date-time such as 2026-01-01T00:00:00Z") from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    try:
        in_range = FIRST_DATE <= parsed <= LAST_DATE  # comparing converts the zone, which can overflow too
    except OverflowError:
        in_range = False
    if not in_range:
        raise Open311Error(400, f"{name} must be between {w3c(FIRST_DATE)} and {w3c(LAST_DATE)}")
    return parsed


async def _events(session: AsyncSession, complaints: list[Complaint]) -> dict[int, list[ComplaintEvent]]:
    ids = [c.id for c in complaints if c.id is not None]
    by_complaint: dict[int, list[ComplaintEvent]] = {i: [] for i in ids}
    if ids:
        rows = await session.exec(
            select(ComplaintEvent)
            .where(col(ComplaintEvent.complaint_id).in_(ids), col(ComplaintEvent.published_note).is_not(None))
            .order_by(col(ComplaintEvent.created_at), col(ComplaintEvent.id))
        )
        for event in rows:
            by_complaint[event.complaint_id].append(event)
    return by_complaint


def _whole(params: Any, name: str, default: int, high: int) -> int:
    raw = str(params.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise Open311Error(400, f"{name} must be a whole number from 1 to {high}")
    return int(raw)


async def list_requests(request: Request) -> Response:
    fmt = request_format(request)
    core = core_of(request)
    params = request.query_params
    page_size = _whole(params, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    page = _whole(params, "page", 1, MAX_PAGE)
    query = select(Complaint)
    ids = [i.strip() for i in params.get("service_request_id", "").split(",") if i.strip()]
    if ids:  # the spec: ids override every other filter
        query = query.where(col(Complaint.reference).in_(ids[:MAX_REQUESTS]))
    else:
        start = _parse_date("start_date", params.get("start_date"))
        end = _parse_date("end_date", params.get("end_date"))
        if start and end and end < start:
            raise Open311Error(400, "end_date is before start_date")
        if start and end and end - start > MAX_WINDOW:
            raise Open311Error(400, "start_date and end_date may not span more than 90 days")
        end = end or (start + DEFAULT_WINDOW if start else utcnow())
        start = start or end - DEFAULT_WINDOW
        query = query.where(Complaint.created_at >= start, Complaint.created_at <= end)
        codes = [c.strip() for c in params.get("service_code", "").split(",") if c.strip()]
        if codes:
            query = query.where(col(Complaint.category).in_(codes))
        statuses = {s.strip().lower() for s in params.get("status", "").split(",") if s.strip()}
        if statuses - {"open", "closed"}:
            raise Open311Error(400, "status must be open or closed")
        if statuses == {"open"}:
            query = query.where(col(Complaint.status).in_(("received", "in_review", "waiting")))
        elif statuses == {"closed"}:
            query = query.where(col(Complaint.status).in_(("resolved", "rejected", "closed")))
    query = (
        query.order_by(col(Complaint.created_at).desc(), col(Complaint.id).desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    async with core.db.session() as session:
        complaints = list(await session.exec(query))
        events = await _events(session, complaints)
        bodies = await body_names(session)
    return await asyncio.to_thread(_render_list, core, fmt, complaints, events, bodies)


def _render_list(
    core: Core, fmt: str, complaints: list[Complaint], events: dict[int, list[ComplaintEvent]], bodies: dict[str, str]
) -> Response:
    """A page of requests as JSON or XML. Run in a thread: anyone may ask for pages of up to MAX_PAGE_SIZE requests,
    and building them on the event loop held up every webhook meanwhile (issue 20, finding 13)."""
    items = [request_entry(core, c, events.get(c.id or 0, []), bodies) for c in complaints]
    return respond(fmt, "service_requests", "request", items)


async def get_request(request: Request) -> Response:
    fmt = request_format(request)
    core = core_of(request)
    reference = request.path_params["service_request_id"]
    async with core.db.session() as session:
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).first()
        if complaint is None:
            raise Open311Error(404, f"service_request_id {reference!r} not found")
        events = await _events(session, [complaint])
        bodies = await body_names(session)
    entry = request_entry(core, complaint, events[complaint.id or 0], bodies)
    return respond(fmt, "service_requests", "request", [entry])
