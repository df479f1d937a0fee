"""The admins' canned replies page (/staff/canned): add, change and delete the replies agents pick in a
conversation, each in English, Urdu and Roman Urdu. A text with an unknown placeholder is refused with the reason
(bot/domain/canned.py); every change is in the audit trail."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from bot.domain import audit, canned
from bot.storage import canned as stored

if TYPE_CHECKING:
    from bot.staff.web import Ctx, StaffWeb

AUDIT = "canned_replies_changed"


def page(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    return lambda ctx: _listing(web, ctx)


def add(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    return lambda ctx: _save(web, ctx, None)


def change(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    async def change_reply(ctx: Ctx) -> Response:
        reply = await stored.get(ctx.db, int(ctx.request.path_params["ident"]))
        if reply is None:
            raise HTTPException(404, "No such canned reply.")
        if ctx.field("action", 16) == "delete":
            audit.record(
                ctx.db, AUDIT, actor=ctx.user.username, client=ctx.client, target=reply.title, change="deleted"
            )
            await stored.delete(ctx.db, reply)
            await ctx.db.commit()
            return RedirectResponse(f"{ctx.base}/canned?ok=canned_deleted", status_code=303)
        return await _save(web, ctx, reply.id)

    return change_reply


async def _listing(web: StaffWeb, ctx: Ctx, *, error: str = "", status: int = 200, **extra: Any) -> Response:
    return web.render(
        ctx.request,
        "canned.html",
        ctx=ctx,
        status=status,
        nav="canned",
        error=error,
        replies=await stored.all_replies(ctx.db),
        languages=canned.LANGUAGES,
        placeholders=canned.PLACEHOLDERS,
        failed=extra.get("failed"),
    )


async def _save(web: StaffWeb, ctx: Ctx, ident: int | None) -> Response:
    """Add (`ident` None) or change one; a refused one comes back with the reason and what was typed."""
    title = ctx.field("title", canned.MAX_TITLE + 1)
    texts = {lang: ctx.field(f"text_{lang}", canned.MAX_TEXT + 1) for lang in canned.LANGUAGES}
    reply = await stored.get(ctx.db, ident) if ident is not None else None
    try:
        saved = await canned.save(ctx.db, reply, title, texts, ctx.user.username)
    except canned.CannedReplyError as exc:  # refused before anything changed
        failed = {"id": ident, "title": title, **{f"text_{k}": v for k, v in texts.items()}}
        return await _listing(web, ctx, error=f"Not saved: {exc}.", status=400, failed=failed)
    change = "added" if ident is None else "changed"
    audit.record(ctx.db, AUDIT, actor=ctx.user.username, client=ctx.client, target=saved.title, change=change)
    await ctx.db.commit()
    return RedirectResponse(f"{ctx.base}/canned?ok=canned_saved#canned-{saved.id}", status_code=303)
