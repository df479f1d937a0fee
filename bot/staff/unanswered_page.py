"""The unanswered-questions page (/staff/unanswered): open questions grouped by similarity (bot.staff.unanswered),
and marking a group handled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from bot.staff import unanswered

if TYPE_CHECKING:
    from bot.staff.web import Ctx, StaffWeb

MAX_GROUPS_SHOWN = 200


def page(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    return lambda ctx: _unanswered(web, ctx)


async def _unanswered(web: StaffWeb, ctx: Ctx) -> Response:
    groups = await unanswered.open_groups(ctx.db)
    return web.render(
        ctx.request,
        "unanswered.html",
        ctx=ctx,
        nav="unanswered",
        groups=groups[:MAX_GROUPS_SHOWN],
        hidden=max(0, len(groups) - MAX_GROUPS_SHOWN),
        questions=sum(g.count for g in groups),
        entries=ctx.core.kb.entries,
    )


async def mark_handled(ctx: Ctx) -> Response:
    assert ctx.form is not None
    ids = [int(v) for v in ctx.form.getlist("id") if isinstance(v, str) and v.isdigit()]
    if not ids:
        raise HTTPException(400, "No question was selected.")
    await unanswered.mark_handled(ctx.db, ids, ctx.user.username)
    await ctx.db.commit()
    return RedirectResponse(f"{ctx.base}/unanswered?ok=handled", status_code=303)
