"""The overview page (/staff/overview): the table by body (bot/staff/body_figures.py) with its date range, body
filter and CSV (/staff/overview.csv); then complaints per week, status, category and district, and the median time
to resolution, as server-rendered charts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.responses import Response

from bot.domain import routing
from bot.domain.complaints import status_name
from bot.models import utcnow
from bot.staff import body_figures, charts, queries

if TYPE_CHECKING:
    from bot.staff.web import Ctx, StaffWeb


def page(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    return lambda ctx: _overview(web, ctx)


async def _by_body(ctx: Ctx) -> dict[str, Any]:
    """The table by body for the request's range and body (an account of a body sees only its own)."""
    filters = queries.Filters.parse(ctx.request.query_params)
    names = await routing.names(ctx.db)
    own = ctx.user.body_id if ctx.user.role != "admin" else None
    if own:
        names = {own: names.get(own, own)}
    body = own or filters.body
    rows = await body_figures.table(ctx.db, ctx.user, names, since=filters.since, until=filters.until, body=body)
    asked = {"since": filters.since or "", "until": filters.until or "", "body": filters.body}
    query = urlencode({k: v for k, v in asked.items() if v})
    return {
        "rows": rows,
        "since": filters.since,
        "until": filters.until,
        "body": body,
        "bodies": list(names.items()),
        "own": own,
        "errors": [e for e in filters.errors if e.startswith(("since", "until"))],
        "csv_link": f"{ctx.base}/overview.csv" + (f"?{query}" if query else ""),
    }


def export(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    async def overview_csv(ctx: Ctx) -> Response:
        found = await _by_body(ctx)
        stamp = utcnow().astimezone(queries.LOCAL_TZ).strftime("%Y%m%d-%H%M")
        return Response(
            "\ufeff" + body_figures.csv_text(found["rows"]),  # the BOM: spreadsheets read it as UTF-8
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="overview-by-body-{stamp}.csv"'},
        )

    return overview_csv


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
        by_body=await _by_body(ctx),
        hours=queries.format_hours,
    )
