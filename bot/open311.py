"""Open311 GeoReport v2 under /open311/v2/: the complaint catalogue and complaints, in JSON and XML.

Other complaint systems (a citizen portal, a city CRM) read and file complaints through it without custom
integration. Anyone may read it, and references are sequential, so nothing personal leaves through it: no names,
user ids or notes to the citizen; status_notes carries only text staff wrote to be published; a chat citizen's
location is published as their district's, their photos not at all; an erased complaint shows as erased.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import hmac
import re
import secrets
import sys
from typing import Any
from xml.etree import ElementTree as ET

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bot.client_limit import ClientRateLimit
from bot.core import Core
from bot.domain.audit import CLI, record
from bot.domain.complaints import Draft, file_complaint
from bot.domain.routing import names as body_names
from bot.models import ApiKey, Complaint, ComplaintEvent, utcnow
from bot.settings import Settings
from knowledge.geo import nearest
from knowledge.normalize import normalize_chars

CHANNEL = "open311"
FORMATS = ("json", "xml")
DEFAULT_WINDOW = dt.timedelta(days=90)
# Dates a client may name: beyond them the window arithmetic would overflow (a 500 instead of the spec's 400).
FIRST_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LAST_DATE = dt.datetime(2999, 12, 31, tzinfo=dt.UTC)
MAX_WINDOW = dt.timedelta(days=90)
MAX_REQUESTS = 1000  # ids one service_request_id list may name
# Anyone may list requests: a page is small by default and bounded, so a few clients cannot keep the loop busy.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PAGE = 10_000
MIN_DESCRIPTION_WORDS = 3
MAX_DESCRIPTION_CHARS = 2000
# A request is a few short fields: the body is cut off at this, as it streams in (chunked included).
MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 64
ERASED = "This complaint was erased at the citizen's request."
# Characters XML 1.0 cannot carry: one in a complaint would make the whole feed unreadable for every consumer.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Open311Error(Exception):
    """An error in the spec's format: [{"code": ..., "description": ...}] with that HTTP status."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# -- API keys ------------------------------------------------------------------------------------------


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def add_key(session: AsyncSession, name: str) -> str:
    """Create a key named `name`; the key itself is returned once and only its hash is stored."""
    key = secrets.token_urlsafe(24)
    session.add(ApiKey(name=name, key_hash=hash_key(key)))
    await session.flush()
    return key


async def check_key(session: AsyncSession, key: str | None) -> ApiKey:
    if not key:
        raise Open311Error(403, "api_key is required to file a service request")
    digest = hash_key(key)
    row = (await session.exec(select(ApiKey).where(ApiKey.key_hash == digest))).first()
    if row is None or not row.active or not hmac.compare_digest(row.key_hash, digest):
        raise Open311Error(403, "api_key is not valid")
    row.last_used_at = utcnow()
    session.add(row)
    return row


# -- rendering -----------------------------------------------------------------------------------------


def w3c(value: dt.datetime | None) -> str | None:
    """ISO 8601 with the zone, as the spec requires (2026-11-21T10:15:30Z)."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _xml_value(parent: ET.Element, key: str, value: Any) -> None:
    child = ET.SubElement(parent, key)
    if isinstance(value, bool):
        child.text = "true" if value else "false"
    elif value is not None:
        child.text = _XML_INVALID.sub("", str(value))


def _to_xml(root: str, item_tag: str, items: list[dict[str, Any]]) -> bytes:
    top = ET.Element(root)
    for item in items:
        element = ET.SubElement(top, item_tag) if item_tag else top
        for key, value in item.items():
            if key == "attributes":
                attributes = ET.SubElement(element, "attributes")
                for attribute in value:
                    node = ET.SubElement(attributes, "attribute")
                    for name, field in attribute.items():
                        if name == "values":
                            values = ET.SubElement(node, "values")
                            for option in field:
                                entry = ET.SubElement(values, "value")
                                _xml_value(entry, "key", option["key"])
                                _xml_value(entry, "name", option["name"])
                        else:
                            _xml_value(node, name, field)
            else:
                _xml_value(element, key, value)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8", xml_declaration=False)


def respond(
    fmt: str, root: str, item_tag: str, data: list[dict[str, Any]] | dict[str, Any], status: int = 200
) -> Response:
    if fmt == "xml":
        items = data if isinstance(data, list) else [data]
        return Response(_to_xml(root, item_tag, items), status, media_type="text/xml; charset=utf-8")
    return JSONResponse(data, status)


def error_response(fmt: str, error: Open311Error) -> Response:
    body = [{"code": error.status, "description": error.description}]
    return respond(fmt if fmt in FORMATS else "json", "errors", "error", body, error.status)


def _fmt(request: Request) -> str:
    fmt = request.path_params.get("fmt", "")
    if fmt not in FORMATS:
        raise Open311Error(404, f"format {fmt!r} is not supported; use .json or .xml")
    return fmt


def _core(request: Request) -> Core:
    return request.app.state.core  # type: ignore[no-any-return]


def service_entry(core: Core, code: str) -> dict[str, Any]:
    service = core.kb.services[code]
    return {
        "service_code": service.code,
        "service_name": service.name.en,
        "description": service.description.en,
        "metadata": bool(service.questions),
        "type": "realtime",
        "keywords": ", ".join(service.keywords),
        "group": service.agency,
    }


def service_definition(core: Core, code: str) -> dict[str, Any]:
    service = core.kb.services[code]
    attributes = []
    for order, question in enumerate(service.questions, start=1):
        attribute: dict[str, Any] = {
            "variable": True,
            "code": question.key,
            "datatype": question.datatype,
            "required": question.required,
            "datatype_description": None,
            "order": order,
            "description": question.prompt.en,
        }
        if question.values:
            attribute["values"] = [{"key": v.key, "name": v.name.en} for v in question.values]
        attributes.append(attribute)
    return {"service_code": code, "attributes": attributes}


def _status_notes(complaint: Complaint, events: list[ComplaintEvent]) -> str | None:
    """Only text written for publication; what the citizen was told may name them."""
    published = [e.published_note for e in events if e.published_note]
    return published[-1] if published else None


def _location(core: Core, complaint: Complaint) -> tuple[float | None, float | None]:
    """A chat citizen's shared location is their home or street: publish only their district's centre. What an
    Open311 client filed was already meant for such systems."""
    if complaint.erased_at is not None:
        return None, None
    if complaint.channel == CHANNEL:
        return complaint.latitude, complaint.longitude
    place = core.kb.places.get(complaint.district)
    if complaint.latitude is None or place is None or place.lat is None:
        return None, None
    return place.lat, place.lon


def request_entry(
    core: Core, complaint: Complaint, events: list[ComplaintEvent], bodies: dict[str, str]
) -> dict[str, Any]:
    """One request as Open311 shows it; `agency_responsible` is its body's name (None while it is unrouted)."""
    service = core.kb.services.get(complaint.category)
    place = core.kb.places.get(complaint.district)
    erased = complaint.erased_at is not None
    # A chat citizen's photo URL (Twilio's) opens their photo for anyone: only Open311 clients' own URLs go out.
    media = [
        a["ref"]
        for a in complaint.attachments
        if complaint.channel == CHANNEL and str(a.get("ref", "")).startswith("https://")
    ]
    lat, long = _location(core, complaint)
    return {
        "service_request_id": complaint.reference,
        "status": "closed" if complaint.status in ("resolved", "rejected") else "open",
        "status_notes": None if erased else _status_notes(complaint, events),
        "service_name": service.name.en if service else complaint.category,
        "service_code": complaint.category,
        "description": ERASED if erased else complaint.description,
        "agency_responsible": bodies.get(complaint.body_id) if complaint.body_id else None,
        "service_notice": None,
        "requested_datetime": w3c(complaint.created_at),
        "updated_datetime": w3c(complaint.updated_at),
        "expected_datetime": None,
        "address": place.name.en if place else (None if erased else complaint.district_text),
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": long,
        "media_url": None if erased or not media else media[0],
    }


# -- handlers ------------------------------------------------------------------------------------------


async def services(request: Request) -> Response:
    fmt = _fmt(request)
    core = _core(request)
    return respond(fmt, "services", "service", [service_entry(core, code) for code in core.kb.services])


async def service(request: Request) -> Response:
    fmt = _fmt(request)
    core = _core(request)
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
    fmt = _fmt(request)
    core = _core(request)
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
            query = query.where(col(Complaint.status).in_(("received", "in_review")))
        elif statuses == {"closed"}:
            query = query.where(col(Complaint.status).in_(("resolved", "rejected")))
    query = (
        query.order_by(col(Complaint.created_at).desc(), col(Complaint.id).desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    async with core.db.session() as session:
        complaints = list(await session.exec(query))
        events = await _events(session, complaints)
        bodies = await body_names(session)
    items = [request_entry(core, c, events.get(c.id or 0, []), bodies) for c in complaints]
    return respond(fmt, "service_requests", "request", items)


async def get_request(request: Request) -> Response:
    fmt = _fmt(request)
    core = _core(request)
    reference = request.path_params["service_request_id"]
    async with core.db.session() as session:
        complaint = (await session.exec(select(Complaint).where(Complaint.reference == reference))).first()
        if complaint is None:
            raise Open311Error(404, f"service_request_id {reference!r} not found")
        events = await _events(session, [complaint])
        bodies = await body_names(session)
    entry = request_entry(core, complaint, events[complaint.id or 0], bodies)
    return respond(fmt, "service_requests", "request", [entry])


def _place(core: Core, address: str | None, lat: float | None, lon: float | None) -> tuple[str, str | None]:
    """(district id, typed text) from address_string, or the nearest known place to lat/long."""
    if address:
        found = core.matcher.places_in(address)
        return (found[0], None) if found else ("other", address[:120])
    assert lat is not None and lon is not None
    located = [p for p in core.kb.places.values() if p.lat is not None]
    return nearest(located, lat, lon, 1)[0][0].id, None


def _coordinate(form: Any, name: str, low: float, high: float) -> float | None:
    raw = form.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number") from None
    if not low <= value <= high:
        raise Open311Error(400, f"{name} is out of range")
    return value


async def _checked_key(core: Core, key: str) -> ApiKey:
    async with core.db.session() as session, session.begin():
        return await check_key(session, key)


async def _form(request: Request) -> Any:
    """The form, read within the mount's body limit (MAX_BODY_BYTES, enforced on the stream by Starlette)."""
    try:
        return await request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_BODY_BYTES)
    except HTTPException as exc:
        detail = "request body too large" if exc.status_code == 413 else exc.detail
        raise Open311Error(exc.status_code, detail) from None
    except Exception:  # python-multipart's errors for malformed bodies
        raise Open311Error(400, "the body must be a form (application/x-www-form-urlencoded)") from None


async def post_request(request: Request) -> Response:
    fmt = _fmt(request)
    core = _core(request)
    # The key first: an api_key in the query string is checked before the body is read at all, one in the form
    # before any other field is looked at, so an outsider costs at most one small bounded read.
    query_key = request.query_params.get("api_key")
    key = await _checked_key(core, query_key) if query_key else None
    form = await _form(request)
    key = key or await _checked_key(core, str(form.get("api_key") or ""))
    code = str(form.get("service_code") or "")
    if code not in core.kb.services:
        raise Open311Error(400, f"service_code {code!r} not found" if code else "service_code is required")
    lat = _coordinate(form, "lat", -90, 90)
    lon = _coordinate(form, "long", -180, 180)
    address = str(form.get("address_string") or "").strip()
    if not address and (lat is None or lon is None):
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    description = " ".join(str(form.get("description") or "").split())
    if len(normalize_chars(description).split()) < MIN_DESCRIPTION_WORDS or len(description) > MAX_DESCRIPTION_CHARS:
        raise Open311Error(
            400, f"description is required: {MIN_DESCRIPTION_WORDS} words to {MAX_DESCRIPTION_CHARS} characters"
        )
    service_def = core.kb.services[code]
    answers: dict[str, str] = {}
    for question in service_def.questions:
        value = str(form.get(f"attribute[{question.key}]") or "").strip()
        if not value:
            if question.required:
                raise Open311Error(400, f"attribute[{question.key}] is required")
            continue
        if question.values and value not in {v.key for v in question.values}:
            raise Open311Error(400, f"attribute[{question.key}] must be one of the service definition's keys")
        answers[question.key] = value[:200]
    media_url = str(form.get("media_url") or "").strip()
    attachments = (
        [{"kind": "document", "ref": media_url[:500], "content_type": None}] if media_url.startswith("https://") else []
    )
    async with core.db.session() as session, session.begin():
        district, typed = _place(core, address or None, lat, lon)
        draft = Draft(
            channel=CHANNEL,
            user_id=f"key:{key.name}"[:128],
            category=code,
            district=district,
            district_text=typed,
            description=description,
            answers=answers,
            attachments=attachments,
            latitude=lat,
            longitude=lon,
            province=place.province if (place := core.kb.places.get(district)) else None,
        )
        complaint = await file_complaint(session, draft)
    body = [{"service_request_id": complaint.reference, "service_notice": None, "account_id": None}]
    return respond(fmt, "service_requests", "request", body, status=201)


def _guarded(handler: Any, limit: ClientRateLimit | None = None) -> Any:
    async def endpoint(request: Request) -> Response:
        fmt = request.path_params.get("fmt", "json")
        try:
            if limit is not None and not limit.allow(request.client.host if request.client else ""):
                raise Open311Error(429, "too many requests from this address; try again in a minute")
            return await handler(request)  # type: ignore[no-any-return]
        except Open311Error as error:
            return error_response(fmt, error)

    return endpoint


def routes(settings: Settings) -> list[BaseRoute]:
    reads = ClientRateLimit(settings.open311_requests_per_minute, 60.0)  # the anonymous request reads
    return [
        Mount(
            "/open311/v2",
            max_body_size=MAX_BODY_BYTES,
            routes=[
                Route("/services.{fmt}", _guarded(services), methods=["GET"]),
                Route("/services/{service_code}.{fmt}", _guarded(service), methods=["GET"]),
                Route("/requests.{fmt}", _guarded(list_requests, reads), methods=["GET"]),
                Route("/requests.{fmt}", _guarded(post_request), methods=["POST"]),
                Route("/requests/{service_request_id}.{fmt}", _guarded(get_request, reads), methods=["GET"]),
            ],
        )
    ]


# -- CLI -----------------------------------------------------------------------------------------------


def _run_key_command(args: argparse.Namespace) -> int:
    from bot.db import Database
    from bot.settings import get_settings

    async def main() -> int:
        db = Database(get_settings().database_url)
        try:
            async with db.session() as session, session.begin():
                if args.key_command == "add":
                    try:
                        key = await add_key(session, args.name)
                    except IntegrityError:
                        print(f"sahulat: error: a key named {args.name!r} exists", file=sys.stderr)
                        return 1
                    record(session, "api_key_added", actor=CLI, target=args.name)
                    print(f"API key for {args.name} (shown once; store it now):\n{key}")
                    return 0
                rows = list(await session.exec(select(ApiKey).order_by(col(ApiKey.name))))
                if args.key_command == "list":
                    for row in rows:
                        used = w3c(row.last_used_at) or "never"
                        print(f"{row.name}\t{'active' if row.active else 'revoked'}\tlast used {used}")
                    return 0
                match = [r for r in rows if r.name == args.name]
                if not match:
                    print(f"sahulat: error: no key named {args.name!r}", file=sys.stderr)
                    return 1
                match[0].active = False
                session.add(match[0])
                record(session, "api_key_revoked", actor=CLI, target=args.name)
                print(f"revoked {args.name}")
                return 0
        finally:
            await db.dispose()

    return asyncio.run(main())


def add_cli(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "open311", help="Open311 GeoReport v2 API administration", description="Open311 API administration."
    )
    sub = parser.add_subparsers(dest="open311_command", metavar="ACTION", required=True)
    key = sub.add_parser("key", help="manage API keys", description="Manage the API keys that may file requests.")
    keys = key.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    add = keys.add_parser("add", help="create a key (printed once)", description="Create an API key named NAME.")
    add.add_argument("name", metavar="NAME", help="who the key is for, e.g. city-portal")
    keys.add_parser("list", help="list keys", description="List API keys (names and status, never the keys).")
    revoke = keys.add_parser("revoke", help="revoke a key", description="Revoke the API key named NAME.")
    revoke.add_argument("name", metavar="NAME")
    for action in (add, revoke, keys.choices["list"]):
        action.set_defaults(func=lambda args, settings: _run_key_command(args))
