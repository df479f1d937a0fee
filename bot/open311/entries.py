"""What the API publishes of services and complaints. Anyone may read it, and references are sequential, so
nothing personal leaves through it: no names, user ids or notes to the citizen; status_notes carries only text
staff wrote to be published; a chat citizen's location is published as their district's, their photos not at
all; an erased complaint shows as erased."""

from __future__ import annotations

from typing import Any

from bot.core import Core
from bot.models import Complaint, ComplaintEvent
from bot.open311.formats import CHANNEL, w3c

ERASED = "This complaint was erased at the citizen's request."


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
    from_client = complaint.channel == CHANNEL  # filed through this API, meant for such systems
    return {
        "service_request_id": complaint.reference,
        "status": "closed" if complaint.status in ("resolved", "rejected", "closed") else "open",
        "status_notes": None if erased else _status_notes(complaint, events),
        "service_name": service.name.en if service else complaint.category,
        "service_code": complaint.category,
        "description": ERASED if erased else complaint.description,
        "agency_responsible": bodies.get(complaint.body_id) if complaint.body_id else None,
        "service_notice": None,
        "requested_datetime": w3c(complaint.created_at),
        "updated_datetime": w3c(complaint.updated_at),
        "expected_datetime": None,
        # What a chat citizen typed for an unlisted place can be their street and house: only a district goes out.
        "address": place.name.en if place else (complaint.district_text if from_client and not erased else None),
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": long,
        "media_url": None if erased or not media else media[0],
    }
