"""Filing a complaint through the API (POST requests), with an API key checked before the body is read."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from bot.core import Core
from bot.domain.complaints import Draft, file_complaint
from bot.models import ApiKey
from bot.open311.formats import CHANNEL, Open311Error, core_of, request_format, respond
from bot.open311.keys import check_key
from knowledge.geo import nearest
from knowledge.normalize import normalize_chars

MIN_DESCRIPTION_WORDS = 3
MAX_DESCRIPTION_CHARS = 2000
MAX_BODY_BYTES = 16 * 1024  # a filing is a few fields: the mount refuses more, on the stream
MAX_FIELDS = 64


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
    fmt = request_format(request)
    core = core_of(request)
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
