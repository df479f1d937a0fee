"""Files citizens send during a complaint conversation or a handover (photos, documents, voice notes): recorded
with the message, fetched once by the worker, kept in MEDIA_DIR, erased with the citizen's data.

The webhook only records the channel's handle (a Telegram file id, a Twilio media URL): fetching inside the request
would hold up the reply and repeat on every redelivery. The worker's round claims one due row at a time (a
compare-and-set, safe in several processes), asks the channel for the bytes (from the channel's own API host only:
bot/channels/media_http.py), checks size and type (MEDIA_MAX_BYTES, MEDIA_CONTENT_TYPES; an image's first bytes
must be an image), and stores the file: in MEDIA_DIR, or with MEDIA_STORE=database in the database (for platforms
whose processes share no disk). A failure is retried with backoff and, after the last try, marked failed;
a refusal (another host, too large, a type not allowed) is final at once and says why. Neither holds up anything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import metrics
from bot.channels.base import MediaError
from bot.models import MediaFile, utcnow
from bot.settings import get_settings
from bot.storage import media as rows

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

BACKOFF_SECONDS = (30, 120, 600, 3600, 6 * 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
LEASE = dt.timedelta(minutes=5)  # a fetch is bounded well under this (bot/channels/media_http.py)
# Shown inline (as thumbnails) on the staff pages; everything else is a download.
IMAGE_SIGNATURES = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", ""})


def is_image(content_type: str | None) -> bool:
    return (content_type or "") in IMAGE_SIGNATURES


async def attach(
    session: AsyncSession,
    channel: str,
    user_id: str,
    attachments: Sequence[dict[str, Any]] | None,
    *,
    event_id: int | None = None,
    message_id: int | None = None,
) -> None:
    """Rows for the files of one stored message (a complaint event or a handover message), to be fetched."""
    for item in attachments or ():
        ref = str(item.get("ref") or "")
        if not ref:
            continue
        declared = item.get("content_type")
        session.add(
            MediaFile(
                channel=channel,
                user_id=user_id,
                event_id=event_id,
                message_id=message_id,
                kind=str(item.get("kind") or "document")[:16],
                ref=ref,
                declared_type=str(declared).split(";")[0].strip().lower()[:100] if declared else None,
            )
        )
    await session.flush()


def allowed_type(content_type: str, allowed: str) -> bool:
    """Whether MEDIA_CONTENT_TYPES (comma-separated; "image/*" allows a family) allows `content_type`."""
    family = content_type.partition("/")[0]
    for item in (part.strip().lower() for part in allowed.split(",")):
        if item and (item == content_type or item == f"{family}/*"):
            return True
    return False


def content_type_of(declared: str | None, served: str | None) -> str:
    """The server's type unless it is a generic one (Telegram serves every file as octet-stream), else the
    channel's declared type."""
    served = (served or "").lower()
    return served if served not in GENERIC_TYPES else (declared or "application/octet-stream").lower()


def check(data: bytes, content_type: str, allowed: str) -> None:
    """MediaError(refused=True) for a type not allowed, or an "image" whose bytes are not that image (it would be
    shown inline to staff)."""
    if not allowed_type(content_type, allowed):
        raise MediaError(f"refused: type {content_type} is not allowed (MEDIA_CONTENT_TYPES)", refused=True)
    signatures = IMAGE_SIGNATURES.get(content_type)
    if signatures and not data.startswith(signatures):
        raise MediaError(f"refused: the content is not a {content_type} image", refused=True)
    if content_type == "image/webp" and data[8:12] != b"WEBP":
        raise MediaError("refused: the content is not a image/webp image", refused=True)


def _write(folder: Path, media_id: int, data: bytes) -> str:
    """Write the bytes as "<row id>-<random>" (to a temporary name first, then renamed: never half a file). The id
    lets erasure find a copy no row points at (a worker killed between writing and recording it)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{media_id}-{uuid.uuid4().hex}"
    target = (folder / name).resolve()
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    os.replace(partial, target)
    return str(target)


def copies(folder: Path, media_ids: Sequence[int]) -> list[str]:
    """Every file in `folder` written for these rows, recorded or not."""
    if not folder.is_dir():
        return []
    return [str(path) for ident in media_ids for path in folder.glob(f"{ident}-*")]


def delete_files(paths: Sequence[str]) -> None:
    for path in paths:
        try:
            Path(path).unlink(missing_ok=True)
        except OSError as exc:  # logged with the path, for an operator to remove by hand
            log.error("media file %s could not be deleted: %s", path, exc)


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1])


async def fetch_due(core: Core, now: dt.datetime | None = None, limit: int = 20) -> int:
    """Fetch what is due, one claimed row at a time; returns how many files were stored."""
    stored = 0
    for _ in range(limit):
        moment = now or utcnow()
        async with core.db.session() as session:
            media_id = await rows.most_overdue(session, moment)
        if media_id is None:
            break
        async with core.db.session() as session, session.begin():
            row = await rows.claim(session, media_id, moment, LEASE)
        if row is not None:
            stored += await _fetch_one(core, row, moment)
    return stored


async def _fetch_one(core: Core, row: MediaFile, now: dt.datetime) -> int:
    assert row.id is not None
    settings = core.settings
    path: str | None = None
    try:
        channel = core.channels.get(row.channel)
        if channel is None:
            raise MediaError(f"the {row.channel} channel is not configured in this process")
        fetched = await channel.fetch_media(row.ref, settings.media_max_bytes)
        content_type = content_type_of(row.declared_type, fetched.content_type)
        check(fetched.data, content_type, settings.media_content_types)
        if settings.media_store == "directory":
            path = await asyncio.to_thread(_write, Path(settings.media_dir), row.id, fetched.data)
    except Exception as exc:  # a channel bug must not stop the other files
        final = isinstance(exc, MediaError) and exc.refused
        error = str(exc) if isinstance(exc, MediaError) else f"{type(exc).__name__}: {exc}"
        if final:
            values: dict[str, Any] = {"status": "refused", "error": error[:300]}
        elif row.attempts >= MAX_ATTEMPTS:
            values = {"status": "failed", "error": error[:300]}
        else:
            values = {"status": "pending", "error": error[:300], "next_attempt_at": now + backoff(row.attempts)}
        log.warning("media %s (%s): attempt %s: %s -> %s", row.id, row.channel, row.attempts, error, values["status"])
        metrics.media_fetched(row.channel, "retry" if values["status"] == "pending" else values["status"])
        async with core.db.session() as session, session.begin():
            await rows.record(session, row.id, row.attempts, **values)
        return 0
    async with core.db.session() as session, session.begin():
        recorded = await rows.record(
            session,
            row.id,
            row.attempts,
            status="stored",
            path=path,
            size=len(fetched.data),
            content_type=content_type,
            error=None,
            fetched_at=utcnow(),
        )
        if recorded and path is None:  # MEDIA_STORE=database
            rows.add_blob(session, row.id, fetched.data)
    if not recorded:  # another worker took it over (the lease ran out), or it was erased meanwhile
        if path is not None:
            await asyncio.to_thread(delete_files, [path])
        return 0
    metrics.media_fetched(row.channel, "stored")
    return 1


async def run_fetcher(core: Core, stop: asyncio.Event, interval: float) -> None:
    """Fetch due files every `interval` seconds until `stop` is set: a task of its own beside the notification
    sender, so a slow file never holds up a notification (nor the other way round)."""
    while not stop.is_set():
        try:
            await fetch_due(core)
        except Exception:  # the database may be down for a while; keep trying
            log.exception("media fetcher: round failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass


async def erase(session: AsyncSession, channel: str, user_id: str, media_dir: Path | None = None) -> int:
    """Delete a citizen's files and their rows (erasure on request): each stored path, and any other copy in
    MEDIA_DIR (`media_dir`) written for their rows. The files go at once, before the transaction commits: should
    it roll back, staff see "not available" rather than the files outliving the request."""
    found = await rows.files_of_user(session, channel, user_id)
    folder = media_dir if media_dir is not None else get_settings().media_dir
    paths = [path for _, path in found if path]
    paths += await asyncio.to_thread(copies, Path(folder), [ident for ident, _ in found])
    await asyncio.to_thread(delete_files, sorted(set(paths)))
    return await rows.delete_of_user(session, channel, user_id)
