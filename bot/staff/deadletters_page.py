"""The admins' dead-letters page (/staff/deadletters): messages whose handling failed, retried or dismissed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from bot.storage import deadletters as stored_deadletters
from handlers import deadletters

if TYPE_CHECKING:
    from bot.staff.web import Ctx, StaffWeb

log = logging.getLogger(__name__)


def page(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    return lambda ctx: _listing(web, ctx)


def action(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    return lambda ctx: _act(web, ctx)


async def _listing(web: StaffWeb, ctx: Ctx, *, error: str = "", status: int = 200) -> Response:
    show_all = ctx.request.query_params.get("all", "") == "1"
    rows = await stored_deadletters.listing(ctx.db, include_closed=show_all)
    return web.render(
        ctx.request,
        "deadletters.html",
        ctx=ctx,
        status=status,
        nav="deadletters",
        error=error,
        rows=rows,
        show_all=show_all,
    )


async def _act(web: StaffWeb, ctx: Ctx) -> Response:
    """Retry or dismiss one dead letter. A retry runs in a message transaction of its own (the dispatcher's),
    so this request's session only reads."""
    ident = int(ctx.request.path_params["ident"])
    action = ctx.field("action", 16)
    try:
        if action == "retry":
            # Nothing of this request's session may be held while the message is handled (on SQLite its read
            # holds the write lock); closing keeps the loaded account usable, detached, for the page.
            await ctx.db.close()
            result = await deadletters.retry(ctx.core.dispatcher, ident, ctx.actor)
            if not result.ok:
                return await _listing(
                    web, ctx, error=f"Dead letter #{ident} failed again ({result.error}); it stays open.", status=409
                )
            code = "retried"
        elif action == "dismiss":
            await deadletters.dismiss(ctx.db, ident, ctx.actor)
            await ctx.db.commit()
            code = "dismissed"
        else:
            raise HTTPException(400, "Unknown action.")
    except deadletters.DeadLetterError as exc:
        return await _listing(web, ctx, error=f"Not done: {exc}.", status=409)
    log.info("staff %s: %s on dead letter %s", ctx.user.username, action, ident)
    return RedirectResponse(f"{ctx.base}/deadletters?ok={code}", status_code=303)
