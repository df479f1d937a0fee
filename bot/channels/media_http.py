"""Fetching a file a user sent, from the channel's own API host only, with a size cap counted as the bytes arrive.

The Telegram and WhatsApp channels use it when the worker fetches media (never inside a webhook). A URL on any
other scheme, host or port is refused before any request: a URL in a message never makes the server fetch from
elsewhere (server-side request forgery). A redirect is followed only to the API host itself, or to one of the
`redirect_origins` the channel names for its own file storage (Twilio answers a media URL with a redirect to its
CDN), and the credentials go to the API host only.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot.channels.base import Fetched, MediaError

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
TIMEOUT_SECONDS = 30.0


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme, 0)


def same_origin(url: str, allowed: str) -> bool:
    found = origin(url)
    return found[0] in ("http", "https") and bool(found[1]) and found == origin(allowed)


def _retryable_status(status: int) -> bool:
    """5xx, a timeout, rate limiting, and 404 (Twilio's media can lag a moment behind its webhook)."""
    return status >= 500 or status in (404, 408, 429)


async def fetch(
    url: str,
    *,
    allowed: str,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    redirect_origins: Sequence[str] = (),
    seconds: float = TIMEOUT_SECONDS,
) -> Fetched:
    """GET `url` if it is on `allowed`'s scheme, host and port; at most `max_bytes`. MediaError(refused=True) for
    another host, a file too large, or an answer that will not change (401, 403); MediaError otherwise."""
    host = origin(allowed)[1]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session:
        for hop in range(MAX_REDIRECTS + 1):
            on_api_host = same_origin(url, allowed)
            redirected_to_storage = hop > 0 and any(same_origin(url, other) for other in redirect_origins)
            if not (on_api_host or redirected_to_storage):
                raise MediaError(f"refused: the file is not on the channel's API host ({host})", refused=True)
            try:
                sent = headers if on_api_host else None  # the credentials are the API host's alone
                async with session.get(url, headers=sent, allow_redirects=False) as response:
                    if response.status in REDIRECTS:
                        url = urljoin(url, response.headers.get("Location", ""))
                        continue
                    if response.status != 200:
                        raise MediaError(
                            f"the channel answered HTTP {response.status}",
                            refused=not _retryable_status(response.status),
                        )
                    if response.content_length is not None and response.content_length > max_bytes:
                        raise MediaError(f"too large: {response.content_length} bytes, over {max_bytes}", refused=True)
                    data = bytearray()
                    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                        data += chunk
                        if len(data) > max_bytes:
                            raise MediaError(f"too large: over {max_bytes} bytes", refused=True)
                    content_type = response.headers.get("Content-Type")
                    return Fetched(bytes(data), content_type.split(";")[0].strip().lower() if content_type else None)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise MediaError(f"could not fetch the file ({type(exc).__name__})") from exc
    raise MediaError("refused: too many redirects", refused=True)
