"""The admins' Routing page (/staff/routing): bodies, rules and the Unrouted queue; and re-routing a complaint.

Apart from bot/staff/web.py, which is large already; the handlers take the same `Ctx` and run behind its guard.
Every change goes through bot/domain/routing.py, which refuses what must not happen (a body with complaints
deleted, a re-route with no reason) with a message shown here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from bot.domain import audit, routing
from bot.domain.deadlines import STATE_LABELS, due_state, local_due
from bot.domain.routing_data import RoutingData, load_routing
from bot.models import Complaint
from bot.staff import complaints_page, queries
from bot.storage import routing as stored

if TYPE_CHECKING:
    from bot.staff.web import Ctx, StaffWeb

MESSAGES = {
    "body_added": "Body added.",
    "body_deleted": "Body deleted, with its rules.",
    "rule_added": "Rule added: new complaints it matches go to its body.",
    "rule_deleted": "Rule deleted.",
    "rerouted": "Re-routed; the reason is in the history.",
}


def routing_data(ctx: Ctx) -> RoutingData:
    return load_routing(ctx.core.settings.knowledge_dir)


def soon(ctx: Ctx) -> dt.timedelta:
    """How near its due time an open complaint is "due soon" (routing.yaml's deadlines.due_soon_days)."""
    return dt.timedelta(days=routing_data(ctx).deadlines.due_soon_days)


def due_cell(complaint: Complaint, now: dt.datetime, soon: dt.timedelta) -> dict[str, str]:
    """What the Due column shows: the last day, and on time / due soon / overdue while the complaint is open."""
    if complaint.due_at is None:
        return {"state": "", "label": "", "day": "—"}
    if complaint.status == "waiting":  # the clock is paused until the citizen answers (bot/domain/pause.py)
        return {"state": "paused", "label": "paused: waiting for the citizen", "day": local_due(complaint.due_at)}
    state = due_state(complaint.due_at, now, soon) if complaint.status in queries.OPEN_STATUSES else None
    return {
        "state": state or "closed",
        "label": STATE_LABELS.get(state or "", "closed"),
        "day": local_due(complaint.due_at),
    }


async def choices(ctx: Ctx) -> dict[str, Any]:
    """The body and due filters' options, and names to show."""
    names = await routing.names(ctx.db)
    return {
        "bodies": list(names.items()),
        "body_names": names,
        "due_states": list(STATE_LABELS.items()),
    }


def page(web: StaffWeb) -> Callable[..., Awaitable[Response]]:
    async def routing_page(ctx: Ctx, *, error: str = "", status: int = 200) -> Response:
        kb = ctx.core.kb
        bodies = await stored.bodies(ctx.db)
        counts = {b.id: await stored.complaints_of(ctx.db, b.id) for b in bodies}
        unrouted = await queries.list_page(ctx.db, queries.Filters(body=queries.UNROUTED), ctx.user, size=50)
        provinces = sorted({p.province for p in kb.places.values()})
        return web.render(
            ctx.request,
            "routing.html",
            ctx=ctx,
            status=status,
            nav="routing",
            error=error,
            notice=MESSAGES.get(ctx.request.query_params.get("done", ""), ""),
            bodies=bodies,
            counts=counts,
            rules=await stored.rules(ctx.db),
            names={b.id: b.name_en for b in bodies},
            unrouted=unrouted,
            categories=[(code, queries.category_name(kb, code)) for code in kb.services],
            category_name=lambda code: queries.category_name(kb, code),
            district_name=lambda code: queries.district_name(kb, code),
            provinces=provinces,
            districts=sorted(((pid, p.name.en) for pid, p in kb.places.items()), key=lambda item: item[1]),
        )

    return routing_page


def change(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    """One POST for the page's forms: add or delete a body, add or delete a rule."""
    show = page(web)

    async def routing_change(ctx: Ctx) -> Response:
        action = ctx.field("action", 32)
        detail: dict[str, Any] = {}
        try:
            if action == "add_body":
                body = await routing.add_body(
                    ctx.db,
                    ctx.field("id", 64),
                    ctx.field("name_en", 200),
                    ctx.field("name_ur", 200),
                    ctx.field("province", 64),
                    ctx.field("email", 254),
                )
                detail = {"target": body.id}
            elif action == "delete_body":
                await routing.delete_body(ctx.db, ctx.field("id", 64))
                detail = {"target": ctx.field("id", 64)}
            elif action == "add_rule":
                rule = await routing.add_rule(
                    ctx.db,
                    ctx.field("category", 64),
                    ctx.field("province", 64),
                    ctx.field("district", 64),
                    ctx.field("body", 64),
                    categories=ctx.core.kb.services,
                )
                detail = {"target": rule.body_id, "category": rule.category, "where": rule.district or rule.province}
            elif action == "delete_rule":
                await routing.delete_rule(ctx.db, int(ctx.field("rule", 12) or 0))
            else:
                raise routing.RoutingError("unknown action")
        except (routing.RoutingError, ValueError) as exc:
            return await show(ctx, error=f"Not changed: {exc}.", status=400)
        audit.record(ctx.db, "routing_changed", actor=ctx.user.username, client=ctx.client, change=action, **detail)
        await ctx.db.commit()
        done = {"add_body": "body_added", "delete_body": "body_deleted", "add_rule": "rule_added"}.get(action)
        return RedirectResponse(f"{ctx.base}/routing?done={done or 'rule_deleted'}", status_code=303)

    return routing_change


def reroute(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    """An admin sends a complaint to another body, with a reason kept in its (staff-only) history."""

    async def reroute_complaint(ctx: Ctx) -> Response:
        found = await queries.find(ctx.db, str(ctx.request.path_params["reference"]), ctx.user)
        complaint = await queries.lock(ctx.db, found.id) if found is not None and found.id is not None else None
        if complaint is None:
            raise HTTPException(404, "No such complaint.")
        try:
            await routing.reroute(ctx.db, complaint, ctx.field("body", 64), reason=ctx.field("reason"), actor=ctx.actor)
        except routing.RoutingError as exc:
            return await complaints_page.detail(web, ctx, error=f"Not re-routed: {exc}.", status=400)
        await ctx.db.commit()
        return RedirectResponse(f"{ctx.base}/complaints/{complaint.reference}?ok=rerouted", status_code=303)

    return reroute_complaint
