"""Fetching a file a user sent, from the channel's own API host only, with a size cap counted as the bytes arrive.

The Telegram and WhatsApp channels use it when the worker fetches media (never inside a webhook). A URL on any
other scheme, host or port is refused before any request, and a redirect is followed only while it stays on that
host: neither a forged URL nor a redirect makes the server fetch from elsewhere (server-side request forgery) or
hand the channel's credentials to another host.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import aiohttp

from bot.channels.base import Fetched, MediaError

REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
TIMEOUT_SECONDS = 60.0


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
    return status >= 500 or status in (408, 429)


async def fetch(
    url: str, *, allowed: str, max_bytes: int, headers: dict[str, str] | None = None, seconds: float = TIMEOUT_SECONDS
) -> Fetched:
    """GET `url` if it is on `allowed`'s scheme, host and port; at most `max_bytes`. MediaError(refused=True) for
    another host, a file too large, or an answer that will not change (404); MediaError otherwise."""
    host = origin(allowed)[1]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session:
        for _ in range(MAX_REDIRECTS + 1):
            if not same_origin(url, allowed):
                raise MediaError(f"refused: the file is not on the channel's API host ({host})", refused=True)
            try:
                async with session.get(url, headers=headers, allow_redirects=False) as response:
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
