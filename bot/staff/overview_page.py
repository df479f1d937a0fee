"""The overview page (/staff/overview): complaints per week, status, category and district, and the median time to
resolution, as server-rendered charts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.responses import Response

from bot.domain.complaints import status_name
from bot.staff import charts, queries

if TYPE_CHECKING:
    from bot.staff.web import Ctx, StaffWeb


def page(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    return lambda ctx: _overview(web, ctx)


async def _overview(web: StaffWeb, ctx: Ctx) -> Response:
    kb = ctx.core.kb
    figures = await queries.overview(ctx.db, ctx.user)
    districts = [(queries.district_name(kb, code), n) for code, n in figures.by_district]
    if len(districts) > 12:
        districts = [*districts[:11], ("All other districts", sum(n for _, n in districts[11:]))]
    chart = {
        "week": charts.column_chart(
            "Complaints filed per week (last 12 weeks, weeks starting Monday)",
            [(start.strftime("%d %b"), n) for start, n in figures.by_week],
        ),
        "status": charts.bar_chart(
            "Complaints per status", [(status_name(kb, s, "en"), n) for s, n in figures.by_status], css="status"
        ),
        "category": charts.bar_chart(
            "Complaints per category", [(queries.category_name(kb, c), n) for c, n in figures.by_category]
        ),
        "district": charts.bar_chart("Complaints per district", districts),
        "resolution": charts.bar_chart(
            "Median time to resolution per category",
            [(queries.category_name(kb, c), h) for c, h in figures.median_hours_by_category],
            value_text=queries.format_hours,
            css="resolution",
        ),
    }
    return web.render(
        ctx.request,
        "overview.html",
        ctx=ctx,
        nav="overview",
        figures=figures,
        median=queries.format_hours(figures.median_hours),
        chart=chart,
    )
