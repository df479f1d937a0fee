"""The Overdue queue (/staff/overdue): open complaints past their due time, longest overdue first, with how far
each has been escalated (bot/domain/escalation.py). Apart from bot/staff/web.py, which is large already."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.responses import Response

from bot.models import utcnow
from bot.staff import complaints_page, queries, routing_page

if TYPE_CHECKING:
    from bot.staff.web import Ctx, StaffWeb

ESCALATION_LABELS = {0: "not yet", 1: "to the body's supervisors", 2: "to the admins"}


def page(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    async def overdue(ctx: Ctx) -> Response:
        body = ctx.request.query_params.get("body", "").strip()[:32]
        filters = queries.Filters(due="overdue", sort="due", body=body, now=utcnow(), soon=routing_page.soon(ctx))
        listed = await queries.list_page(ctx.db, filters, ctx.user, size=200)
        routed = await routing_page.choices(ctx)
        rows = [
            {
                **complaints_page.list_row(ctx, c, routed, filters),
                "escalation": ESCALATION_LABELS.get(c.escalation_level, str(c.escalation_level)),
            }
            for c in listed.complaints
        ]
        return web.render(
            ctx.request, "overdue.html", ctx=ctx, nav="overdue", rows=rows, total=listed.total, body=body, **routed
        )

    return overdue
