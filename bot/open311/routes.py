"""The API's routes under /open311/v2/, each answering its errors in the spec's format."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from bot.client_limit import ClientRateLimit
from bot.open311.filing import MAX_BODY_BYTES, post_request
from bot.open311.formats import Open311Error, error_response
from bot.open311.reads import get_request, list_requests, service, services
from bot.settings import Settings


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
