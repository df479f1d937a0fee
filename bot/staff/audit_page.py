"""The admins' audit page (/staff/audit) and its CSV export: the trail bot/domain/audit.py writes, with filters.

Apart from bot/staff/web.py, which is large already; the handlers take the same `Ctx` and run behind its guard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.responses import Response, StreamingResponse

from bot.domain import audit
from bot.models import utcnow

if TYPE_CHECKING:
    from bot.staff.web import Ctx, StaffWeb


def page(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    async def audit_page(ctx: Ctx) -> Response:
        filters = audit.AuditFilters.parse(ctx.request.query_params)
        events, more = await audit.page(ctx.db, filters)
        params = filters.query_params()

        def link(number: int) -> str:
            query = filters.query_params(page=number)
            return f"{ctx.base}/audit" + (f"?{urlencode(query)}" if query else "")

        return web.render(
            ctx.request,
            "audit.html",
            ctx=ctx,
            nav="audit",
            filters=filters,
            events=events,
            actions=audit.ACTIONS,
            describe=audit.describe,
            previous_link=link(filters.page - 1) if filters.page > 1 else "",
            next_link=link(filters.page + 1) if more else "",
            csv_link=f"{ctx.base}/audit.csv" + (f"?{urlencode(params)}" if params else ""),
        )

    return audit_page


async def export(ctx: Ctx) -> Response:
    """Every matching event as CSV; the export is itself recorded."""
    filters = audit.AuditFilters.parse(ctx.request.query_params)
    events = await audit.all_matching(ctx.db, filters)
    audit.record(
        ctx.db,
        "export",
        actor=ctx.user.username,
        client=ctx.client,
        target="audit",
        rows=len(events),
        filters=filters.query_params(),
    )
    await ctx.db.commit()
    stamp = utcnow().strftime("%Y%m%d-%H%M")

    def body() -> Iterator[str]:
        yield "\ufeff"
        yield from audit.csv_lines(events)

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="audit-{stamp}.csv"'},
    )
