"""A stand-in for Twilio's Messages API on 127.0.0.1, and a helper that serves any ASGI app with uvicorn.

The real twilio client talks to the fake through Twilio's documented custom-HTTP-client hook: `http_client()`
returns an AsyncTwilioHttpClient that sends what it would send to https://api.twilio.com to the fake instead.
The fake records every request it receives (even those it never answers) and can be told to hang or to fail,
so tests see exactly what went over the wire.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.utils
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse

from .fake_telegram import Server

TWILIO_API = "https://api.twilio.com"
MEDIA_PATH = "/2010-04-01/Accounts/{account}/Messages/{message}/Media/{media}"
WAIT_SECONDS = 30.0  # upper bound on every wait in these helpers


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Run `app` under uvicorn on a free 127.0.0.1 port in this event loop; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="on", log_config=None, access_log=False, timeout_graceful_shutdown=5, ws="none"
    )
    server = Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped the server (a failed startup exits)
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                await task
        except (Exception, SystemExit):  # a failed startup or a stuck shutdown must not hide the test's error
            task.cancel()
        sock.close()


@dataclass
class Recorded:
    """One request the fake received: the account in its path, the Basic-auth user and the form fields."""

    account_sid: str
    auth_user: str | None
    form: dict[str, str]
    answered: bool = False
    sid: str | None = None


@dataclass
class FakeTwilio:
    """Twilio's `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, answering like the real API.

    `mode`: "ok" (201 with a new message SID), "hang" (never answers until the test ends) or "error"
    (answers `error_status` with Twilio's error JSON and `error_code`).
    """

    mode: str = "ok"
    delay: float = 0.0  # "ok" answers after this many seconds (a slow network)
    # Runs once the message is taken and before the answer (what may happen meanwhile: a database restart, say).
    on_accept: Callable[[], Awaitable[None]] | None = None
    error_status: int = 500
    error_code: int = 20500
    requests: list[Recorded] = field(default_factory=list)
    base_url: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    received: asyncio.Event = field(default_factory=asyncio.Event)
    # Media users sent, by media SID: (bytes, content type); served to Basic auth of `media_auth` (SID, token).
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    media_auth: tuple[str, str] = ("", "")
    media_fetches: list[str] = field(default_factory=list)  # the media SIDs fetched, in order
    media_redirects: dict[str, str] = field(default_factory=dict)  # media SID -> where it redirects (307)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{account}/Messages.json", self.create, methods=["POST"]),
                Route(MEDIA_PATH, self.fetch_media, methods=["GET"]),
            ]
        )

    def add_media(self, message_sid: str, media_sid: str, data: bytes, content_type: str) -> str:
        """A file a user sent; returns its MediaUrl as Twilio's webhook gives it."""
        self.media[media_sid] = (data, content_type)
        account = self.media_auth[0]
        return f"{self.base_url}/2010-04-01/Accounts/{account}/Messages/{message_sid}/Media/{media_sid}"

    async def fetch_media(self, request: Request) -> Response:
        """GET a media URL: HTTP basic auth of the account SID and auth token, as Twilio asks for."""
        if _basic_credentials(request) != self.media_auth or request.path_params["account"] != self.media_auth[0]:
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        if request.path_params["media"] in self.media_redirects:
            return Response(status_code=307, headers={"Location": self.media_redirects[request.path_params["media"]]})
        found = self.media.get(request.path_params["media"])
        if found is None:
            return JSONResponse({"code": 20404, "message": "not found", "status": 404}, status_code=404)
        self.media_fetches.append(request.path_params["media"])
        return Response(found[0], media_type=found[1])

    async def create(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        record = Recorded(account_sid=request.path_params["account"], auth_user=_basic_user(request), form=form)
        self.requests.append(record)
        self.received.set()
        if self.mode == "hang":
            try:
                async with asyncio.timeout(WAIT_SECONDS):
                    await self.release.wait()
            except TimeoutError:
                pass
            return Response(status_code=504)
        if self.mode == "error":
            return JSONResponse(
                {
                    "code": self.error_code,
                    "message": "fake failure",
                    "more_info": f"https://www.twilio.com/docs/errors/{self.error_code}",
                    "status": self.error_status,
                },
                status_code=self.error_status,
            )
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.on_accept is not None:
            await self.on_accept()
        record.answered = True
        record.sid = "SM" + uuid.uuid4().hex
        now = email.utils.format_datetime(dt.datetime.now(dt.UTC), usegmt=True)
        return JSONResponse(
            {
                "sid": record.sid,
                "account_sid": record.account_sid,
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body", ""),
                "status": "queued",
                "direction": "outbound-api",
                "num_segments": "1",
                "num_media": "0",
                "api_version": "2010-04-01",
                "date_created": now,
                "date_updated": now,
                "date_sent": None,
                "error_code": None,
                "error_message": None,
                "messaging_service_sid": None,
                "price": None,
                "price_unit": "USD",
                "uri": f"/2010-04-01/Accounts/{record.account_sid}/Messages/{record.sid}.json",
                "subresource_uris": {},
            },
            status_code=201,
        )

    def answered(self) -> list[Recorded]:
        return [record for record in self.requests if record.answered]

    def http_client(self) -> AsyncTwilioHttpClient:
        """A real AsyncTwilioHttpClient whose requests go to this fake instead of api.twilio.com."""
        return LocalTwilioHttpClient(self.base_url)


class LocalTwilioHttpClient(AsyncTwilioHttpClient):
    """Twilio's async HTTP client with the API host swapped for a local one (the custom-HTTP-client hook)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> TwilioResponse:
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        return await super().request(method, url, *args, **kwargs)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password


def _basic_user(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    return base64.b64decode(value).decode().partition(":")[0]


@asynccontextmanager
async def running_fake() -> AsyncIterator[FakeTwilio]:
    """A FakeTwilio served on 127.0.0.1 for the duration; hung requests are released before it stops."""
    fake = FakeTwilio()
    try:
        async with serve(fake.app()) as base_url:
            fake.base_url = base_url
            try:
                yield fake
            finally:
                fake.release.set()
    finally:
        fake.release.set()
