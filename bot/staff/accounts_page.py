"""The admins' accounts page (/staff/accounts): staff accounts, their roles, categories and body; adding (with a
generated password shown once), changing, disabling. Every change is in the audit trail."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from bot.domain import audit
from bot.staff import accounts, queries, routing_page

if TYPE_CHECKING:
    from bot.staff.web import Ctx, StaffWeb

log = logging.getLogger(__name__)


def page(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    return lambda ctx: _listing(web, ctx)


def add(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    return lambda ctx: _add(web, ctx)


def change(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    return lambda ctx: _change(web, ctx)


async def _listing(web: StaffWeb, ctx: Ctx, *, error: str = "", status: int = 200, **extra: Any) -> Response:
    users = await accounts.list_staff(ctx.db)
    services = [(code, queries.category_name(ctx.core.kb, code)) for code in ctx.core.kb.services]
    return web.render(
        ctx.request,
        "accounts.html",
        ctx=ctx,
        status=status,
        nav="accounts",
        error=error,
        users=users,
        roles=accounts.ROLES,
        services=services,
        bodies=await routing_page.choices(ctx),
        created=extra.get("created"),
        form_values=extra.get("form_values", {}),
    )


async def _add(web: StaffWeb, ctx: Ctx) -> Response:
    assert ctx.form is not None
    username, role = ctx.field("username", 100), ctx.field("role", 16)
    password = ctx.field("password", accounts.MAX_PASSWORD_CHARS + 1)
    generated = not password
    password = password or accounts.generate_password()
    categories = [str(v) for v in ctx.form.getlist("categories")]
    body = ctx.field("body", 32) or None
    email = ctx.field("email", 200) or None
    try:
        known = ctx.core.kb.services.keys()
        if body is not None and body not in (await routing_page.choices(ctx))["body_names"]:
            raise accounts.AccountError(f"unknown body {body!r}")
        user = await accounts.create_staff(
            ctx.db, username, password, role, accounts.check_categories(categories, known), body_id=body, email=email
        )
    except accounts.AccountError as exc:
        values = {"username": username, "role": role}
        return await _listing(web, ctx, error=f"Not added: {exc}.", status=400, form_values=values)
    audit.record(
        ctx.db,
        "account_added",
        actor=ctx.user.username,
        client=ctx.client,
        target=user.username,
        role=user.role,
        categories=user.categories,
        body=user.body_id,
    )
    await ctx.db.commit()
    log.info("staff %s added account %s (%s)", ctx.user.username, user.username, user.role)
    if generated:  # shown once, on this response only (never stored in clear, never in a URL)
        return await _listing(web, ctx, created={"username": user.username, "password": password})
    return RedirectResponse(f"{ctx.base}/accounts?ok=account_added", status_code=303)


async def _change(web: StaffWeb, ctx: Ctx) -> Response:
    assert ctx.form is not None
    user = await accounts.get_staff(ctx.db, str(ctx.request.path_params["username"]))
    if user is None:
        raise HTTPException(404, "No such account.")
    action = ctx.field("action", 16)
    try:
        if action in ("disable", "enable"):
            if user.id == ctx.user.id:
                raise accounts.AccountError("you cannot disable your own account")
            await accounts.set_active(ctx.db, user, action == "enable")
            code = f"account_{action}d"
        elif action == "save":
            role = accounts.check_role(ctx.field("role", 16))
            if user.id == ctx.user.id and role != "admin":
                raise accounts.AccountError("you cannot take the admin role from yourself")
            categories = accounts.check_categories(
                [str(v) for v in ctx.form.getlist("categories")], ctx.core.kb.services.keys()
            )
            body = (ctx.field("body", 32) or None) if "body" in ctx.form else user.body_id
            known = (await routing_page.choices(ctx))["body_names"]
            if body is not None and body != user.body_id and body not in known:
                raise accounts.AccountError(f"unknown body {body!r}")
            if role != user.role:
                user.role = role
                user.session_epoch += 1  # fewer rights apply at once, not at the next sign-in
            user.body_id = body  # which complaints they see follows at once (bot/staff/queries.scope_conditions)
            await accounts.set_categories(ctx.db, user, categories)
            user.email = accounts.check_email(ctx.field("email", 200))  # where its alerts go (empty: none)
            code = "account_saved"
        else:
            raise HTTPException(400, "Unknown action.")
    except accounts.AccountError as exc:
        return await _listing(web, ctx, error=f"Not changed: {exc}.", status=400)
    changes = {"change": action, "role": user.role, "categories": user.categories, "active": user.active}
    changes["email"] = user.email
    changes["body"] = user.body_id
    audit.record(ctx.db, "account_changed", actor=ctx.user.username, client=ctx.client, target=user.username, **changes)
    await ctx.db.commit()
    log.info("staff %s: %s on account %s", ctx.user.username, action, user.username)
    return RedirectResponse(f"{ctx.base}/accounts?ok={code}", status_code=303)
