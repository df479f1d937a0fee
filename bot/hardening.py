"""Response headers every route gets: whatever a handler forgets, the browser is still told what not to do."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000"


class Hardening:
    """`X-Content-Type-Options: nosniff` on every response, `Strict-Transport-Security` over https, and redirects
    made relative when they point at the request's own host: a Location built from a forged Host header (Starlette's
    trailing-slash redirect does this) would otherwise send a victim elsewhere."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        host = Headers(scope=scope).get("host", "")

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                if https:
                    headers.setdefault("strict-transport-security", HSTS)
                location = headers.get("location")
                if location:
                    headers["location"] = relative(location, host)
            await send(message)

        await self.app(scope, receive, send_hardened)


def relative(location: str, host: str) -> str:
    """`location` without scheme and host when it names the request's own host; otherwise as it was."""
    parts = urlsplit(location)
    if not parts.netloc or parts.netloc.lower() != host.lower():
        return location
    path = parts.path or "/"
    return path + (f"?{parts.query}" if parts.query else "")
