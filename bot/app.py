"""The one ASGI app: health check, the channels' webhooks; the staff dashboard and APIs mount here too."""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bot import metrics as bot_metrics
from bot.channels import build_channels
from bot.core import Core, build_core
from bot.db import DATABASE_OUTAGE
from bot.domain.alert_texts import load_alert_texts
from bot.domain.outbox import outbox_depth, run_sender
from bot.domain.routing import seed_on_start
from bot.domain.routing_data import load_routing
from bot.errors import is_transient
from bot.features import feature_modules
from bot.hardening import Hardening
from bot.logs import configure as configure_logging
from bot.settings import Settings, get_settings
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher

log = logging.getLogger(__name__)

# Start-up ends with a full collection and gc.freeze() (see `lifespan`). The test suite turns this off
# (tests/conftest.py): it starts hundreds of apps in one process whose heap is mostly its own, where each such
# collection cost about a fifth of a second. Not a setting: `sahulat run`, including in the tests, always does it.
freeze_heap_at_startup = True


async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers, 503 otherwise (load balancers take the process out of rotation)."""
    core: Core = request.app.state.core
    body: dict[str, object] = {"status": "ok", "knowledge_entries": len(core.kb.entries)}
    try:
        await core.db.ping()
        body["database"] = "ok"
        return JSONResponse(body)
    except Exception as exc:  # any failure to reach the database means "not ready"
        # The reason goes to the log only: /healthz is public, and an error's name tells an outsider what runs here.
        log.warning("health check: database unreachable: %s", type(exc).__name__)
        body.update(status="unavailable", database="unreachable")
        return JSONResponse(body, status_code=503)


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """A page or API call that met a database failure: 503 and a plain sentence when it is transient (the database
    down, too busy to give a connection in time, or a connection the server ended, which SQLAlchemy then retires
    with the pool's older ones, `bot.db.create_engine`); any other database error (a constraint, a missing column)
    is a bug: logged with its traceback and answered 500.
    """
    if not is_transient(exc):
        log.error("%s %s: database error", request.method, request.url.path, exc_info=exc)
        return PlainTextResponse("Internal server error", status_code=500)
    log.warning("%s %s: database unavailable (%s)", request.method, request.url.path, type(exc).__name__)
    return PlainTextResponse(
        "The database is unavailable just now. Please try again in a moment.",
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def metrics(request: Request) -> Response:
    """Prometheus's page: this process's counters, and the outbox as the database has it now."""
    core: Core = request.app.state.core
    token = core.settings.metrics_token
    if token and not hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {token}"):
        return PlainTextResponse("forbidden", status_code=403)
    depth, oldest = await outbox_depth(core)
    bot_metrics.outbox_seen(depth, oldest)
    body, content_type = bot_metrics.exposition()
    return Response(body, media_type=content_type)


def create_app(
    settings: Settings | None = None,
    core: Core | None = None,
    knowledge: tuple[KnowledgeBase, Matcher] | None = None,
) -> Starlette:
    """Build the app; the knowledge base is loaded and checked before the first request is accepted.

    Pass `core` to share one (tests), or `knowledge` to reuse a knowledge base already loaded.
    """
    settings = settings or get_settings()
    problem = settings.secret_key_problem()
    if problem:  # refuse to serve: a forged admin session is one known key away
        raise RuntimeError(problem)
    if not logging.getLogger().handlers:  # under uvicorn (the Procfile's web): nothing prints the app's logs yet
        configure_logging(settings.log_level, settings.log_format)

    routing = load_routing(settings.knowledge_dir)  # checked now: a bad file stops the start, naming the entry
    load_alert_texts(settings.knowledge_dir)  # the staff alert e-mails' texts, checked as the routing is
    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
    for module in feature_modules():
        if hasattr(module, "routes"):
            routes.extend(module.routes(settings))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = core is None
        active = core or build_core(settings, knowledge=knowledge)
        app.state.core = active
        await seed_on_start(active.db.url, routing)
        active.channels = build_channels(active)
        for channel in active.channels.values():
            app.router.routes.extend(channel.routes())
            await channel.start(receive=True)
        # What start-up loaded (the knowledge base, the matcher's index, the libraries) lives as long as the process.
        # Moved out of the collector's sight, it is no longer scanned by every full collection: those scans were
        # pauses under load that showed in the webhooks' p99 latency (benchmarks/bench_load.py).
        frozen = freeze_heap_at_startup
        if frozen:
            gc.collect()
            gc.freeze()
        stop = asyncio.Event()
        sender = (
            asyncio.create_task(run_sender(active, stop, settings.outbox_interval_seconds))
            if settings.outbox_in_web
            else None
        )
        try:
            yield
        finally:
            if frozen:
                gc.unfreeze()
            stop.set()
            if sender:
                await sender
            for channel in active.channels.values():
                await channel.stop()
            if own:
                await active.close()

    outages = {error: database_unavailable for error in DATABASE_OUTAGE}
    # Every route's body is limited as it streams in (a chunked body has no Content-Length to check first); the
    # staff and Open311 mounts set their own limits.
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=outages,
        # The client's address and scheme from X-Forwarded-* only when the connection comes from TRUSTED_PROXIES;
        # the app does this itself (uvicorn runs with proxy headers off), so `sahulat run` and the Procfile agree.
        middleware=[
            Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies),
            Middleware(bot_metrics.ServerErrors),
            Middleware(Hardening),
        ],
        max_body_size=settings.max_webhook_body_bytes,
    )
