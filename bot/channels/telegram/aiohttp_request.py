"""The Bot API's HTTP client for python-telegram-bot, on aiohttp.

PTB's own client is built on httpx. Measured on the 2-core machine, one sendMessage through it took about
1.3 ms of CPU in httpx and httpcore alone, against 0.4 ms for the same call on aiohttp: for a Telegram webhook
that was more than the whole rest of handling the message. PTB lets the networking be swapped
(`telegram.request.BaseRequest`); this is that, and nothing else changes: PTB still builds every request,
reads every answer and raises its own errors (`TimedOut`, `NetworkError`, `RetryAfter`, ...).

Timeouts keep PTB's meaning, with one difference: aiohttp has no timeout for writing a request, so
`write_timeout` is not applied on its own (a request still cannot outlast connect plus read).
"""

from __future__ import annotations

import re

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """Bot API requests over one aiohttp session (a pool of keep-alive connections)."""

    __slots__ = ("_connect_timeout", "_pool_size", "_pool_timeout", "_read_timeout", "_session")

    def __init__(
        self,
        *,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # The session is made here, inside the running loop, as aiohttp requires.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                trust_env=True,  # HTTPS_PROXY and friends, as PTB's httpx client honours them
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None | object = BaseRequest.DEFAULT_NONE,
        write_timeout: float | None | object = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | None | object = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | None | object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One request; PTB turns the status and body into a result or one of its errors."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = _given(read_timeout, self._read_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        timeout = aiohttp.ClientTimeout(
            total=None,
            # aiohttp's `connect` covers waiting for a pooled connection and opening a new one
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout, allow_redirects=False
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors (asyncio.TimeoutError is the same)
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {without_token(str(exc))}") from exc


# The Bot API's URLs hold the bot token (".../bot<token>/sendMessage", ".../file/bot<token>/..."), and some of
# aiohttp's errors quote the URL; these messages end up in warnings.
_TOKEN_IN_URL = re.compile(r"/bot[^/\s'\"]+")


def without_token(text: str) -> str:
    return _TOKEN_IN_URL.sub("/bot<token>", text)


def _given(value: float | None | object, default: float | None) -> float | None:
    """A timeout passed for this request, or the default for PTB's "not passed" marker."""
    if value is BaseRequest.DEFAULT_NONE:
        return default
    return value if value is None or isinstance(value, int | float) else default


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """The parameters, form-encoded as PTB's own client sends them; multipart when there are files."""
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        return request_data.json_parameters
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, content_type) in files.items():
        form.add_field(name, content, filename=filename, content_type=content_type)
    return form
