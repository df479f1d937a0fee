"""The staff dashboard: a Starlette sub-app mounted at /staff, rendered on the server with Jinja2 (autoescaped).

How the sub-app reaches the shared Core: bot/app.py's lifespan stores it on the *outer* app's `state.core`.
A Starlette app sets `scope["app"]` to itself when called, so inside a mounted Starlette sub-app
`request.app` is the sub-app, whose state is empty (Mount does not run a sub-app's lifespan). `StaffASGI`
wraps the sub-app and runs first, while `scope["app"]` is still the outer app, and copies the Core into the
scope under CORE_KEY; handlers read it with `core_of(request)`. The wrapper also adds the security headers.

Every page needs a signed-in account (the login page and the stylesheet aside); each action checks its role;
every POST carries the session's CSRF token; every change goes through bot/domain/complaints.py (or `assign`) so it
lands in the append-only event log with who and when, and the citizen's notification is queued with it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jinja2
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.domain import audit
from bot.models import StaffUser
from bot.settings import Settings
from bot.staff import (
    accounts,
    accounts_page,
    alerts_page,
    audit_page,
    canned_page,
    complaints_page,
    deadletters_page,
    inbox_page,
    media_page,
    overdue_page,
    overview_page,
    queries,
    routing_page,
    unanswered,
    unanswered_page,
)
from bot.staff.session import SessionData, Sessions
from bot.storage import alerts as stored_alerts
from bot.storage import handovers

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CORE_KEY = "sahulat.core"
MAX_BODY_BYTES = 128 * 1024  # forms only: notes, and the ids of a group of questions
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        b"script-src 'self'; connect-src 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
MESSAGES = {
    "status": "Status changed; the citizen will be notified.",
    "public_note": "Public note added; the citizen will be notified.",
    "internal_note": "Internal note added (staff only).",
    "assigned": "Assignment saved.",
    "handled": "Marked as handled.",
    "account_added": "Account added.",
    "account_saved": "Account saved.",
    "account_disabled": "Account disabled; its sessions are signed out.",
    "account_enabled": "Account enabled.",
    "retried": "Retried: the message was handled again; its replies wait in the outbox for the sender.",
    "dismissed": "Dead letter dismissed.",
    "reply": "Reply queued; the citizen will receive it.",
    "conversation_take": "You hold this conversation: the bot stays quiet for this citizen.",
    "conversation_hand_back": "Handed back to the bot; the citizen is told.",
    "conversation_close": "Conversation closed; the citizen is told.",
    "rerouted": "Re-routed; the reason is in the history.",
    "canned_saved": "Canned reply saved.",
    "canned_deleted": "Canned reply deleted.",
}


def core_of(request: Request) -> Core:
    core = request.scope.get(CORE_KEY)
    if core is None:
        raise HTTPException(503, "The app is still starting.")
    return core  # type: ignore[no-any-return]


class StaffASGI:
    """Runs before the sub-app: copies the outer app's Core into the scope, and adds security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        outer_state = getattr(scope.get("app"), "state", None)
        core = getattr(outer_state, "core", None)
        if core is not None:
            scope[CORE_KEY] = core

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS if name not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class Ctx:
    """One signed-in request: the account, its session and CSRF token, and a database session."""

    request: Request
    core: Core
    db: AsyncSession
    user: StaffUser
    session: SessionData
    csrf: str
    form: FormData | None
    inbox: tuple[int, int] = (0, 0)  # conversations waiting for anyone, and held by this user (navigation bar)
    alerts: int = 0  # this user's unread staff alerts (navigation bar)

    @property
    def actor(self) -> str:
        return f"staff:{self.user.username}"

    @property
    def base(self) -> str:
        return str(self.request.scope.get("root_path", "")).rstrip("/")

    @property
    def client(self) -> str:
        """The address the request came from (the proxy's word only for TRUSTED_PROXIES: bot/app.py)."""
        return self.request.client.host if self.request.client else "unknown"

    def field(self, name: str, limit: int = complaints_page.MAX_NOTE_CHARS + 1) -> str:
        value = self.form.get(name, "") if self.form is not None else ""
        return value[:limit] if isinstance(value, str) else ""


Handler = Callable[[Ctx], Awaitable[Response]]


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _safe_next(value: str, base: str) -> str:
    """Only a path inside the dashboard: never another site (an open redirect) or a scheme-relative URL."""
    if value.startswith(base + "/") and "//" not in value and "\\" not in value and "\n" not in value:
        return value
    return base + "/"


class StaffWeb:
    """The handlers, with the settings, template environment and session signer they share."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sessions = Sessions(
            settings.secret_key, secure=bool(settings.public_url and settings.public_url.startswith("https"))
        )
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["local"] = queries.local_time
        self.css = (HERE / "static" / "staff.css").read_bytes()
        self.js = (HERE / "static" / "staff.js").read_bytes()  # canned replies and live updates

    # -- plumbing ------------------------------------------------------------------------------------------

    def render(
        self, request: Request, template: str, *, ctx: Ctx | None = None, status: int = 200, **values: Any
    ) -> HTMLResponse:
        user = ctx.user if ctx else None
        common = {
            "base": _base(request),
            "user": user,
            "csrf": ctx.csrf if ctx else values.pop("csrf", ""),
            "can_work": bool(user and accounts.has_role(user, "agent")),
            "is_admin": bool(user and accounts.has_role(user, "admin")),
            "nav": values.pop("nav", ""),
            "message": MESSAGES.get(request.query_params.get("ok", ""), ""),
            "error": values.pop("error", ""),
            "inbox_counts": ctx.inbox if ctx else (0, 0),
            "alert_count": ctx.alerts if ctx else 0,
            "refresh_seconds": self.settings.staff_refresh_seconds,
        }
        html = self.env.get_template(template).render(**common, **values)
        return HTMLResponse(html, status_code=status)

    def guard(self, role: str) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
        """Sign-in, role and (for POST) CSRF checks around a handler; anonymous GETs go to the login page."""

        def decorate(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                core = core_of(request)
                data = self.sessions.read(request)
                form = None
                if request.method == "POST":
                    form = await request.form(max_files=0, max_fields=MAX_FIELDS, max_part_size=MAX_BODY_BYTES)
                    if not self.sessions.csrf_ok(data, form.get("csrf")):
                        raise HTTPException(403, "The form has expired or did not come from this site. Reload it.")
                async with core.db.session() as db:
                    user = await self.current_user(db, data)
                    if user is None or data is None:
                        if request.method == "GET":
                            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                            login = f"{_base(request)}/login?{urlencode({'next': target})}"
                            return RedirectResponse(login, status_code=303)
                        raise HTTPException(403, "Sign in first.")
                    if not accounts.has_role(user, role):
                        raise HTTPException(403, f"This needs the {role} role; you are a {user.role}.")
                    ctx = Ctx(request, core, db, user, data, self.sessions.csrf_token(data), form)
                    ctx.inbox = await handovers.inbox_counts(
                        db, user.username, inbox_page.own_categories(user), inbox_page.own_body(user)
                    )
                    ctx.alerts = await stored_alerts.unread_count(db, user.username)
                    return await handler(ctx)

            endpoint.__name__ = handler.__name__
            return endpoint

        return decorate

    @staticmethod
    async def current_user(db: AsyncSession, data: SessionData | None) -> StaffUser | None:
        if data is None or data.user_id is None:
            return None
        user = await db.get(StaffUser, data.user_id)
        if user is None or not user.active or user.session_epoch != data.epoch:
            return None
        return user

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        response = self.render(request, "error.html", status=exc.status_code, code=exc.status_code, detail=exc.detail)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def stylesheet(self, request: Request) -> Response:
        return Response(self.css, media_type="text/css", headers={"cache-control": "public, max-age=3600"})

    async def script(self, request: Request) -> Response:
        return Response(self.js, media_type="text/javascript", headers={"cache-control": "public, max-age=3600"})

    # -- signing in and out --------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        base = _base(request)
        data = self.sessions.read(request)
        target = _safe_next(request.query_params.get("next", ""), base)
        core = core_of(request)
        if request.method == "GET":
            async with core.db.session() as db:
                if await self.current_user(db, data) is not None:
                    return RedirectResponse(target, status_code=303)
            fresh = data or self.sessions.new()
            response = self.render(
                request, "login.html", csrf=self.sessions.csrf_token(fresh), next=target, username=""
            )
            if data is None:
                self.sessions.write(response, fresh, base or "/", https=request.url.scheme == "https")
            return response
        form = await request.form(max_files=0, max_fields=10, max_part_size=4096)
        if not self.sessions.csrf_ok(data, form.get("csrf")):
            raise HTTPException(403, "The sign-in form has expired. Reload the page and try again.")
        assert data is not None
        username = str(form.get("username", ""))[:64]
        password = str(form.get("password", ""))
        target = _safe_next(str(form.get("next", "")), base)
        client = request.client.host if request.client else "unknown"
        async with core.db.session() as db:
            result = await accounts.authenticate(db, username, password, client)
            action = "sign_in_throttled" if result.throttled else ("sign_in" if result.user else "sign_in_failed")
            who = result.user.username if result.user else accounts.normalize_username(username)[:64]
            audit.record(db, action, actor=who, client=client)
            await db.commit()
        csrf = self.sessions.csrf_token(data)
        if result.throttled:
            log.warning("staff sign-in throttled for %r from %s", username, client)
            response = self.render(
                request,
                "login.html",
                status=429,
                csrf=csrf,
                next=target,
                username=username,
                error="Too many failed sign-ins. Wait 15 minutes, then try again (or ask an admin).",
            )
            response.headers["retry-after"] = str(int(accounts.THROTTLE_WINDOW.total_seconds()))
            return response
        if result.user is None:
            return self.render(
                request,
                "login.html",
                status=400,
                csrf=csrf,
                next=target,
                username=username,
                error="Wrong username or password.",
            )
        assert result.user.id is not None
        log.info("staff %s signed in from %s", result.user.username, client)
        response = RedirectResponse(target, status_code=303)
        fresh = self.sessions.new(result.user.id, result.user.session_epoch)
        self.sessions.write(response, fresh, base or "/", https=request.url.scheme == "https")
        return response

    async def logout(self, ctx: Ctx) -> Response:
        """Signing out bumps the account's epoch: a signed cookie cannot be revoked alone, so a copy of it (a
        shared computer, a stolen cookie) stops working too; the price is signing out the account's other devices."""
        ctx.user.session_epoch += 1
        ctx.db.add(ctx.user)
        audit.record(ctx.db, "sign_out", actor=ctx.user.username, client=ctx.client)
        await ctx.db.commit()
        response = RedirectResponse(f"{ctx.base}/login", status_code=303)
        self.sessions.clear(response, ctx.base or "/", https=ctx.request.url.scheme == "https")
        return response

    # -- the app -------------------------------------------------------------------------------------------

    def app(self) -> ASGIApp:
        g = self.guard

        def on(handler: Callable[..., Awaitable[Response]]) -> Callable[[Ctx], Awaitable[Response]]:
            return complaints_page.page(handler, self)

        routes = [
            Route("/", g("viewer")(on(complaints_page.listing)), methods=["GET"]),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", g("viewer")(self.logout), methods=["POST"]),
            Route("/static/staff.css", self.stylesheet, methods=["GET"]),
            Route("/complaints.csv", g("agent")(on(complaints_page.export_csv)), methods=["GET"]),
            Route("/complaints/{reference}", g("viewer")(on(complaints_page.detail)), methods=["GET"]),
            Route("/complaints/{reference}/status", g("agent")(on(complaints_page.set_status)), methods=["POST"]),
            Route("/complaints/{reference}/note", g("agent")(on(complaints_page.note)), methods=["POST"]),
            Route("/complaints/{reference}/assign", g("agent")(on(complaints_page.assign)), methods=["POST"]),
            Route("/overview", g("viewer")(overview_page.page(self)), methods=["GET"]),
            Route("/overview.csv", g("viewer")(overview_page.export(self)), methods=["GET"]),
            Route("/unanswered", g("viewer")(unanswered_page.page(self)), methods=["GET"]),
            Route("/unanswered/handled", g("agent")(unanswered_page.mark_handled), methods=["POST"]),
            Route("/deadletters", g("admin")(deadletters_page.page(self)), methods=["GET"]),
            Route("/deadletters/{ident:int}", g("admin")(deadletters_page.action(self)), methods=["POST"]),
            Route("/accounts", g("admin")(accounts_page.page(self)), methods=["GET"]),
            Route("/accounts", g("admin")(accounts_page.add(self)), methods=["POST"]),
            Route("/accounts/{username}", g("admin")(accounts_page.change(self)), methods=["POST"]),
            Route("/audit", g("admin")(audit_page.page(self)), methods=["GET"]),
            Route("/routing", g("admin")(routing_page.page(self)), methods=["GET"]),
            Route("/routing", g("admin")(routing_page.change(self)), methods=["POST"]),
            Route("/complaints/{reference}/route", g("admin")(routing_page.reroute(self)), methods=["POST"]),
            Route("/overdue", g("viewer")(overdue_page.page(self)), methods=["GET"]),
            Route("/alerts", g("viewer")(alerts_page.page(self)), methods=["GET"]),
            Route("/audit.csv", g("admin")(audit_page.export), methods=["GET"]),
            Route("/inbox", g("viewer")(inbox_page.inbox(self)), methods=["GET"]),
            Route("/inbox/pulse", g("viewer")(inbox_page.pulse), methods=["GET"]),
            Route("/inbox/{ident:int}/pulse", g("viewer")(inbox_page.pulse), methods=["GET"]),
            Route("/complaints/{reference}/pulse", g("viewer")(inbox_page.pulse), methods=["GET"]),
            Route("/static/staff.js", self.script, methods=["GET"]),
            Route("/inbox/{ident:int}", g("viewer")(inbox_page.conversation(self)), methods=["GET"]),
            Route("/inbox/{ident:int}/reply", g("agent")(inbox_page.reply), methods=["POST"]),
            Route("/inbox/{ident:int}/{action}", g("agent")(inbox_page.act), methods=["POST"]),
            Route("/complaints/{reference}/reply", g("agent")(inbox_page.reply_to_complaint), methods=["POST"]),
            Route("/canned", g("admin")(canned_page.page(self)), methods=["GET"]),
            Route("/canned", g("admin")(canned_page.add(self)), methods=["POST"]),
            Route("/canned/{ident:int}", g("admin")(canned_page.change(self)), methods=["POST"]),
            Route("/media/{ident:int}", g("agent")(media_page.serve), methods=["GET"]),
        ]
        inner = Starlette(routes=routes, exception_handlers={HTTPException: self.http_error})
        return StaffASGI(inner)


MAX_FIELDS = 200 + unanswered.MAX_IDS_PER_ACTION
