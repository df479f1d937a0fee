"""The files citizens sent in a conversation, as staff see them: images as thumbnails, other files as downloads,
each served by GET /staff/media/<id> to a signed-in agent who may see the conversation (never from a public path);
and the notice that a citizen cannot be reached.

The files are personal data: an agent's role is needed (as for the citizen's name), and a complaint's files only
for agents of its category.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response

from bot.domain.media import is_image
from bot.models import Complaint, ComplaintEvent, Handover, HandoverMessage, MediaFile, Unreachable
from bot.staff import queries
from bot.storage import media as rows
from bot.storage import reachability

if TYPE_CHECKING:
    from bot.staff.web import Ctx

EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/amr": "amr",
    "video/mp4": "mp4",
}


@dataclass(frozen=True)
class Shown:
    """One file as the conversation shows it."""

    id: int
    kind: str
    status: str  # stored, pending, fetching, failed, refused
    image: bool
    label: str  # "photo, image/jpeg, 12 KB"
    error: str | None


def _size(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 2**20:.1f} MB"


def _shown(row: MediaFile) -> Shown:
    assert row.id is not None
    parts = [row.kind, row.content_type or row.declared_type or "", _size(row.size)]
    return Shown(row.id, row.kind, row.status, is_image(row.content_type), ", ".join(p for p in parts if p), row.error)


def _by(found: Iterable[MediaFile], key: str) -> dict[int, list[Shown]]:
    grouped: dict[int, list[Shown]] = {}
    for row in found:
        owner = getattr(row, key)
        if owner is not None:
            grouped.setdefault(owner, []).append(_shown(row))
    return grouped


async def of_events(ctx: Ctx, events: Iterable[ComplaintEvent]) -> dict[int, list[Shown]]:
    """A complaint conversation's files, by event id."""
    return _by(await rows.of_events(ctx.db, (e.id for e in events if e.id is not None)), "event_id")


async def of_messages(ctx: Ctx, messages: Iterable[HandoverMessage]) -> dict[int, list[Shown]]:
    """A handover conversation's files, by message id."""
    return _by(await rows.of_messages(ctx.db, (m.id for m in messages if m.id is not None)), "message_id")


async def unreachable(ctx: Ctx, channel: str, user_id: str) -> Unreachable | None:
    return await reachability.unreachable(ctx.db, channel, user_id)


async def _may_see(ctx: Ctx, row: MediaFile) -> bool:
    complaint_id: int | None = None
    if row.event_id is not None:
        event = await ctx.db.get(ComplaintEvent, row.event_id)
        complaint_id = event.complaint_id if event else None
        if complaint_id is None:
            return False
    elif row.message_id is not None:
        message = await ctx.db.get(HandoverMessage, row.message_id)
        handover = await ctx.db.get(Handover, message.handover_id) if message else None
        if handover is None:
            return False
        complaint_id = handover.complaint_id
    if complaint_id is None:
        return True
    complaint = await ctx.db.get(Complaint, complaint_id)
    return complaint is not None and queries.may_see(ctx.user, complaint)


async def serve(ctx: Ctx) -> Response:
    """GET /staff/media/<id>: the stored file; an image inline (a thumbnail's source), anything else as a download
    (with the stored type and nosniff, so a browser never runs it as a page)."""
    row = await ctx.db.get(MediaFile, int(ctx.request.path_params["ident"]))
    if row is None or not await _may_see(ctx, row):
        raise HTTPException(404, "No such file (or not in your categories).")
    assert row.id is not None
    unavailable = HTTPException(404, f"This file is not available: {row.error or 'it has not been fetched yet'}.")
    if row.status != "stored":
        raise unavailable
    content_type = row.content_type or "application/octet-stream"
    name = f"{row.kind}-{row.id}.{EXTENSIONS.get(content_type, 'bin')}"
    disposition = "inline" if is_image(content_type) else "attachment"
    headers = {"cache-control": "private, no-store"}
    if row.path is None:  # MEDIA_STORE=database
        data = await rows.blob(ctx.db, row.id)
        if data is None:
            raise unavailable
        headers["content-disposition"] = f'{disposition}; filename="{name}"'
        return Response(data, media_type=content_type, headers=headers)
    if not await asyncio.to_thread(os.path.isfile, row.path):
        raise unavailable
    return FileResponse(
        row.path, media_type=content_type, filename=name, content_disposition_type=disposition, headers=headers
    )
