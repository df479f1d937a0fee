"""The signed-in account's staff alerts (/staff/alerts): the latest, newest first, those not seen before marked new;
opening the page marks them read, which clears the count in the navigation bar. The alerts are made by the worker
(bot/domain/alerts.py); the same ones are e-mailed when SMTP is set up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.responses import Response

from bot.models import utcnow
from bot.storage import alerts as stored

if TYPE_CHECKING:
    from bot.staff.web import Ctx, StaffWeb

SHOWN = 100
KIND_LABELS = {
    "new": "New",
    "reopened": "Reopened",
    "citizen_replied": "Citizen wrote",
    "routed": "Routed",
    "escalated": "Escalated",
    "digest": "Daily digest",
}


def page(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    async def alerts(ctx: Ctx) -> Response:
        found = await stored.alerts_of(ctx.db, ctx.user.username, SHOWN)
        rows = [
            {
                "alert": alert,
                "label": KIND_LABELS.get(alert.kind, alert.kind),
                "new": read_at is None,
                "href": f"/complaints/{reference}" if reference else f"/overdue?body={alert.body_id or 'unrouted'}",
            }
            for alert, read_at, reference in found
        ]
        if ctx.alerts:
            await stored.mark_read(ctx.db, ctx.user.username, utcnow())
            await ctx.db.commit()
        return web.render(
            ctx.request,
            "alerts.html",
            ctx=ctx,
            nav="alerts",
            rows=rows,
            unread=ctx.alerts,
            mailed=bool(ctx.core.settings.smtp_host and ctx.user.email),
        )

    return alerts
