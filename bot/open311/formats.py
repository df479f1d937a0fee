"""The spec's two formats (JSON and XML), its error format, and its W3C date-times."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from xml.etree import ElementTree as ET

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.core import Core

CHANNEL = "open311"
FORMATS = ("json", "xml")
# Characters XML 1.0 cannot carry: one in a complaint would make the whole feed unreadable for every consumer.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Open311Error(Exception):
    """An error in the spec's format: [{"code": ..., "description": ...}] with that HTTP status."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


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


def request_format(request: Request) -> str:
    fmt = request.path_params.get("fmt", "")
    if fmt not in FORMATS:
        raise Open311Error(404, f"format {fmt!r} is not supported; use .json or .xml")
    return fmt


def core_of(request: Request) -> Core:
    return request.app.state.core  # type: ignore[no-any-return]
