"""The complaint pages: the list (filters, sorting, counts, CSV export) and one complaint (what was filed, its
history, the conversation, messages to the citizen) with the staff's actions: status, notes, assignment. Every
change goes through bot/domain/complaints.py."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlmodel import col, select
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response, StreamingResponse

from bot.domain import audit
from bot.domain.complaints import STATUSES, TRANSITIONS, ComplaintError, add_note, change_status, history, status_name
from bot.models import Complaint, Notification, utcnow
from bot.staff import (
    accounts,
    inbox_page,
    media_page,
    queries,
    routing_page,
)
from bot.storage import handovers

if TYPE_CHECKING:  # web.py's
    pass

if TYPE_CHECKING:
    from bot.staff.web import Ctx, StaffWeb

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 2000
# What the complaint page's conversation shows, in order: both sides, status changes and who held the chat.
CONVERSATION_KINDS = frozenset(
    {"citizen_message", "staff_reply", "public_note", "status", "handover_requested", "taken_over", "handed_back"}
    | {"closed", "asked_bot", "reopened", "bot_message"}
)


def _choices(web: StaffWeb, ctx: Ctx) -> dict[str, Any]:
    kb = ctx.core.kb
    categories = [(code, queries.category_name(kb, code)) for code in kb.services]
    if ctx.user.role != "admin" and ctx.user.categories:
        categories = [(code, name) for code, name in categories if code in ctx.user.categories]
    districts = sorted(((pid, place.name.en) for pid, place in kb.places.items()), key=lambda item: item[1])
    return {
        "statuses": [(s, status_name(kb, s, "en")) for s in STATUSES],
        "categories": categories,
        "districts": [*districts, ("other", "Other")],
        "channels": queries.CHANNELS,
        "sorts": list(queries.SORT_LABELS.items()),
    }


def list_row(ctx: Ctx, c: Complaint, routed: dict[str, Any], filters: queries.Filters) -> dict[str, Any]:
    """What a list shows of one complaint (the complaints list, the Overdue queue)."""
    kb = ctx.core.kb
    return {
        "c": c,
        "category": queries.category_name(kb, c.category),
        "district": queries.district_name(kb, c),
        "status": status_name(kb, c.status, "en"),
        "body": routed["body_names"].get(c.body_id or "", "Unrouted"),
        "due": routing_page.due_cell(c, filters.now or utcnow(), filters.soon),
    }


async def listing(web: StaffWeb, ctx: Ctx) -> Response:
    filters = queries.Filters.parse(ctx.request.query_params)
    filters.now, filters.soon = utcnow(), routing_page.soon(ctx)
    page = await queries.list_page(ctx.db, filters, ctx.user)
    counts = await queries.status_counts(ctx.db, filters, ctx.user)
    kb = ctx.core.kb
    routed = await routing_page.choices(ctx)
    rows = [list_row(ctx, c, routed, filters) for c in page.complaints]

    def link(**changes: Any) -> str:
        params = filters.query_params(**changes)
        return f"{ctx.base}/" + (f"?{urlencode(params)}" if params else "")

    status_links = [
        (s, status_name(kb, s, "en"), counts[s], link(status="" if filters.status == s else s, page=1))
        for s in STATUSES
    ]
    export = filters.query_params(page=1)
    return web.render(
        ctx.request,
        "complaints.html",
        ctx=ctx,
        nav="complaints",
        filters=filters,
        page=page,
        rows=rows,
        status_links=status_links,
        all_link=link(status="", page=1),
        total_all=sum(counts.values()),
        prev_link=link(page=page.page - 1) if page.page > 1 else "",
        next_link=link(page=page.page + 1) if page.page < page.pages else "",
        csv_link=f"{ctx.base}/complaints.csv" + (f"?{urlencode(export)}" if export else ""),
        **_choices(web, ctx),
        **routed,
    )


async def export_csv(web: StaffWeb, ctx: Ctx) -> Response:
    filters = queries.Filters.parse(ctx.request.query_params)
    rows = await queries.all_filtered(ctx.db, filters, ctx.user)
    personal = ctx.user.role == "admin"
    log.info("staff %s exported %d complaints (personal data: %s)", ctx.user.username, len(rows), personal)
    audit.record(
        ctx.db,
        "export",
        actor=ctx.user.username,
        client=ctx.client,
        rows=len(rows),
        personal_data=personal,
        filters=filters.query_params(page=1),
    )
    await ctx.db.commit()
    stamp = utcnow().astimezone(queries.LOCAL_TZ).strftime("%Y%m%d-%H%M")

    def body() -> Iterator[str]:
        yield "\ufeff"  # so spreadsheet programs read the Urdu text as UTF-8
        yield from queries.csv_lines(rows, personal)

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="complaints-{stamp}.csv"'},
    )


async def _complaint(web: StaffWeb, ctx: Ctx) -> Complaint:
    complaint = await queries.find(ctx.db, str(ctx.request.path_params["reference"]), ctx.user)
    if complaint is None:
        raise HTTPException(404, "No such complaint (or not in your categories).")
    return complaint


def _answers(web: StaffWeb, ctx: Ctx, complaint: Complaint) -> list[tuple[str, str]]:
    """The service's extra answers with their questions and option names, as the citizen saw them."""
    service = ctx.core.kb.services.get(complaint.category)
    questions = {q.key: q for q in service.questions} if service else {}
    answers = []
    for key, value in complaint.answers.items():
        question = questions.get(key)
        label = question.prompt.en if question else key
        shown = str(value)
        if question:
            names = {v.key: v.name.en for v in question.values}
            shown = names.get(str(value), shown)
        answers.append((label, shown))
    return answers


async def detail(web: StaffWeb, ctx: Ctx, *, error: str = "", status: int = 200) -> Response:
    complaint = await _complaint(web, ctx)
    kb = ctx.core.kb
    events = await history(ctx.db, complaint, public_only=False)
    notifications = list(
        await ctx.db.exec(
            select(Notification)
            .where(Notification.complaint_id == complaint.id)
            .order_by(col(Notification.created_at), col(Notification.id))
        )
    )
    personal_ok = accounts.has_role(ctx.user, "agent")
    assert complaint.id is not None
    routed = await routing_page.choices(ctx)
    conversation = [e for e in events if e.kind in CONVERSATION_KINDS]
    handover = await handovers.open_handover_of_complaint(ctx.db, complaint.id)
    return web.render(
        ctx.request,
        "complaint.html",
        handover=handover,
        **await inbox_page.reply_box(ctx, complaint, handover),
        conversation=conversation,
        files=await media_page.of_events(ctx, conversation),
        unreachable=await media_page.unreachable(ctx, complaint.channel, complaint.user_id),
        ctx=ctx,
        status=status,
        nav="complaints",
        error=error,
        c=complaint,
        category=queries.category_name(kb, complaint.category),
        district=queries.district_name(kb, complaint),
        status_label=status_name(kb, complaint.status, "en"),
        status_names={s: status_name(kb, s, "en") for s in STATUSES},
        transitions=sorted(TRANSITIONS[complaint.status], key=STATUSES.index),
        answers=_answers(web, ctx, complaint),
        events=events,
        notifications=notifications,
        personal_ok=personal_ok,
        erased=complaint.erased_at is not None,
        assignable=await queries.assignable_staff(ctx.db, complaint.category) if personal_ok else [],
        body=routed["body_names"].get(complaint.body_id or "", "Unrouted"),
        due=routing_page.due_cell(complaint, utcnow(), routing_page.soon(ctx)),
        **routed,
    )


async def _locked(web: StaffWeb, ctx: Ctx) -> Complaint:
    found = await _complaint(web, ctx)
    assert found.id is not None
    complaint = await queries.lock(ctx.db, found.id)
    if complaint is None:
        raise HTTPException(404, "No such complaint.")
    return complaint


def _done(web: StaffWeb, ctx: Ctx, complaint: Complaint, code: str) -> Response:
    return RedirectResponse(f"{ctx.base}/complaints/{complaint.reference}?ok={code}", status_code=303)


# On a refused change the handlers re-render without rolling back: bot/domain/complaints.py and accounts.py check
# before they change anything, a rollback would expire the loaded account mid-render, and the request's
# session is discarded uncommitted anyway.


async def set_status(web: StaffWeb, ctx: Ctx) -> Response:
    complaint = await _locked(web, ctx)
    expected, new = ctx.field("expected", 32), ctx.field("status", 32)
    reason = ctx.field("reason")
    if expected and expected != complaint.status:
        return await detail(
            web, ctx, error="Someone changed this complaint meanwhile; check its history and try again.", status=409
        )
    if len(reason) > MAX_NOTE_CHARS:
        return await detail(web, ctx, error=f"The reason may have at most {MAX_NOTE_CHARS} characters.", status=400)
    try:
        await change_status(ctx.db, ctx.core.kb, complaint, new, actor=ctx.actor, reason=reason or None)
    except ComplaintError as exc:
        return await detail(web, ctx, error=f"Not changed: {exc}.", status=400)
    await ctx.db.commit()
    return _done(web, ctx, complaint, "status")


async def note(web: StaffWeb, ctx: Ctx) -> Response:
    complaint = await _locked(web, ctx)
    text, visibility, published = ctx.field("note"), ctx.field("visibility", 16), ctx.field("published")
    if visibility not in ("public", "internal"):
        return await detail(web, ctx, error="Choose whether the note is public or internal.", status=400)
    if len(text) > MAX_NOTE_CHARS or len(published) > MAX_NOTE_CHARS:
        return await detail(web, ctx, error=f"A note may have at most {MAX_NOTE_CHARS} characters.", status=400)
    try:
        await add_note(
            ctx.db,
            ctx.core.kb,
            complaint,
            text,
            actor=ctx.actor,
            public=visibility == "public",
            published=published or None,
        )
    except ComplaintError as exc:
        return await detail(web, ctx, error=f"Not added: {exc}.", status=400)
    await ctx.db.commit()
    return _done(web, ctx, complaint, f"{visibility}_note")


async def assign(web: StaffWeb, ctx: Ctx) -> Response:
    complaint = await _locked(web, ctx)
    assignee = ctx.field("assignee", 64) or None
    if assignee is not None and assignee not in await queries.assignable_staff(ctx.db, complaint.category):
        return await detail(web, ctx, error="That account cannot work complaints in this category.", status=400)
    try:
        await queries.assign(ctx.db, complaint, assignee, actor=ctx.actor)
    except ComplaintError as exc:
        return await detail(web, ctx, error=f"Not changed: {exc}.", status=400)
    await ctx.db.commit()
    return _done(web, ctx, complaint, "assigned")


def page(handler: Callable[..., Awaitable[Response]], web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    """A route's endpoint: `handler` with the dashboard it renders with."""
    return lambda ctx: handler(web, ctx)
