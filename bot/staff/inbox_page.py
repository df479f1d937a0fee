"""The staff inbox (/staff/inbox): conversations waiting for a person, oldest first, and the actions on one (take
over, reply, hand back to the bot, close). A conversation about a complaint is shown on the complaint's page; one
about something new on /staff/inbox/<id>. Replies go through the outbox, as public notes do.

Apart from bot/staff/web.py, which is large already; the handlers take the same `Ctx` and run behind its guard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from bot.domain import canned, reply_window
from bot.domain.conversation import ConversationError, hand_back, staff_reply, take_over
from bot.domain.office_hours import OfficeHours
from bot.models import Complaint, Handover, StaffUser, utcnow
from bot.staff import media_page, queries
from bot.storage import handovers

if TYPE_CHECKING:
    from bot.staff.web import Ctx, StaffWeb


def waited(handover: Handover) -> str:
    """How long the citizen has waited since asking, as "3 h 20 min"."""
    minutes = max(0, int((utcnow() - handover.requested_at).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} days"


async def reply_box(ctx: Ctx, complaint: Complaint | None, handover: Handover | None) -> dict[str, Any]:
    """The canned replies filled for this citizen, the reply box's text (?canned=<id>: that one, for a browser
    without scripts), and whether a reply would wait behind WhatsApp's invitation template (_reply_window.html)."""
    target = complaint or handover
    if target is None:
        return {"canned": [], "prefill": "", "outside_window": False}
    name = (handover.display_name if handover else None) or (complaint.display_name if complaint else None)
    choices = await canned.choices(
        ctx.db, target.language, reference=complaint.reference if complaint else None, display_name=name
    )
    picked = ctx.request.query_params.get("canned", "")
    prefill = next((c.text for c in choices if str(c.id) == picked), "")
    closed = await reply_window.outside_window(ctx.db, target.channel, target.user_id)
    return {"canned": choices, "prefill": prefill, "outside_window": closed}


NEW = "new"  # the filter value for conversations about no complaint


def own_categories(user: StaffUser) -> list[str] | None:
    """The categories an account is limited to (None: all), as the complaint pages limit it (bot/staff/queries.py)."""
    return list(user.categories) if user.role != "admin" and user.categories else None


def own_body(user: StaffUser) -> str | None:
    """The body an account is limited to (None: all), as the complaint pages limit it (bot/staff/queries.py)."""
    return user.body_id if user.role != "admin" and user.body_id else None


def inbox_filter(user: StaffUser, wanted: str) -> tuple[list[str] | None, bool]:
    """(categories, whether conversations about something new count) for the inbox's category filter: by default
    an agent's own categories (and something new), or everything for an account without limits."""
    own = own_categories(user)
    if wanted == NEW:
        return [], True
    if wanted and (own is None or wanted in own):
        return [wanted], False
    return own, True


def office_note(ctx: Ctx) -> str:
    """The office hours as staff read them, and whether citizens are told to wait for the next opening now."""
    settings = ctx.core.settings
    hours = OfficeHours.configured(settings.office_days, settings.office_hours, settings.knowledge_dir)
    if hours.hours is None:
        return "Office hours: always; citizens who ask for a person are told staff will answer."
    said = f"Office hours: {settings.office_days} {settings.office_hours} (Pakistan time), except public holidays."
    now = utcnow()
    if hours.is_open(now):
        return f"{said} Open now."
    opening = hours.next_opening(now)
    when = opening.strftime("%a %d %b %H:%M") if opening else "no day within a year"
    return (
        f"{said} Closed now: citizens asking for a person are told staff answer from {when}; the bot answers meanwhile."
    )


def inbox(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    async def inbox_page(ctx: Ctx) -> Response:
        wanted = ctx.request.query_params.get("category", "")[:64]
        categories, new = inbox_filter(ctx.user, wanted)
        rows = await handovers.inbox(ctx.db, categories=categories, new=new, body=own_body(ctx.user))
        own = own_categories(ctx.user)
        names = [(code, queries.category_name(ctx.core.kb, code)) for code in (own or ctx.core.kb.services)]
        return web.render(
            ctx.request,
            "inbox.html",
            ctx=ctx,
            nav="inbox",
            rows=rows,
            waited=waited,
            category=wanted,
            category_names=names,
            limited=own is not None,
            name_of=lambda code: queries.category_name(ctx.core.kb, code),
            office=office_note(ctx),
        )

    return inbox_page


async def pulse(ctx: Ctx) -> Response:
    """The live view's poll: the navigation bar's counts, and for a conversation a mark that moves when it does."""
    mark = None
    if "ident" in ctx.request.path_params:
        handover, complaint = await _handover(ctx, lock=False)
        mark = await handovers.conversation_mark(
            ctx.db, complaint_id=complaint.id if complaint else None, handover_id=handover.id
        )
    elif "reference" in ctx.request.path_params:
        complaint = await queries.find(ctx.db, str(ctx.request.path_params["reference"]), ctx.user)
        if complaint is None:
            raise HTTPException(404, "No such complaint (or not in your categories).")
        mark = await handovers.conversation_mark(ctx.db, complaint_id=complaint.id, handover_id=None)
    return JSONResponse({"inbox": list(ctx.inbox), "mark": mark}, headers={"cache-control": "no-store"})


async def _handover(ctx: Ctx, *, lock: bool) -> tuple[Handover, Complaint | None]:
    """The handover named in the path, with its complaint if the agent may see it (404 otherwise)."""
    ident = int(ctx.request.path_params["ident"])
    handover = await (handovers.lock_handover(ctx.db, ident) if lock else ctx.db.get(Handover, ident))
    if handover is None:
        raise HTTPException(404, "No such conversation (it may have been erased at the citizen's request).")
    complaint = None
    if handover.complaint_id is not None:
        found = await ctx.db.get(Complaint, handover.complaint_id)
        complaint = await queries.find(ctx.db, found.reference, ctx.user) if found else None
        if complaint is None:
            raise HTTPException(404, "No such conversation (or not in your categories).")
    return handover, complaint


def conversation(web: StaffWeb) -> Callable[[Ctx], Awaitable[Response]]:
    async def conversation_page(ctx: Ctx, error: str = "", status: int = 200) -> Response:
        handover, complaint = await _handover(ctx, lock=False)
        if complaint is not None:
            return RedirectResponse(f"{ctx.base}/complaints/{complaint.reference}#conversation", status_code=303)
        assert handover.id is not None
        said = await handovers.messages_of(ctx.db, handover.id)
        return web.render(
            ctx.request,
            "conversation.html",
            ctx=ctx,
            nav="inbox",
            h=handover,
            said=said,
            files=await media_page.of_messages(ctx, said),
            unreachable=await media_page.unreachable(ctx, handover.channel, handover.user_id),
            error=error,
            status=status,
            **await reply_box(ctx, None, handover),
        )

    return conversation_page


def _back(ctx: Ctx, handover: Handover, complaint: Complaint | None, code: str) -> Response:
    if complaint is not None:
        return RedirectResponse(f"{ctx.base}/complaints/{complaint.reference}?ok={code}#conversation", status_code=303)
    return RedirectResponse(f"{ctx.base}/inbox/{handover.id}?ok={code}", status_code=303)


async def act(ctx: Ctx) -> Response:
    """Take over, hand back or close; a refused change (closed already) says why."""
    handover, complaint = await _handover(ctx, lock=True)
    action = str(ctx.request.path_params["action"])
    try:
        if action == "take":
            await take_over(ctx.db, handover, complaint, ctx.user.username)
        elif action in ("hand_back", "close"):
            await hand_back(ctx.db, ctx.core.kb, handover, complaint, ctx.user.username, close=action == "close")
        else:
            raise HTTPException(404, "No such action.")
    except ConversationError as exc:
        raise HTTPException(409, f"Not done: {exc}.") from exc
    await ctx.db.commit()
    return _back(ctx, handover, complaint, f"conversation_{action}")


async def reply(ctx: Ctx) -> Response:
    """A reply in a conversation about something new (a complaint's replies go through reply_to_complaint)."""
    handover, complaint = await _handover(ctx, lock=True)
    await _send_reply(ctx, complaint, handover)
    return _back(ctx, handover, complaint, "reply")


async def _send_reply(ctx: Ctx, complaint: Complaint | None, handover: Handover | None) -> None:
    """The staff member's reply, in the history and queued for the citizen, committed; 400 when it cannot go."""
    try:
        await staff_reply(
            ctx.db,
            ctx.core.kb,
            complaint=complaint,
            handover=handover,
            text=ctx.field("text"),
            username=ctx.user.username,
        )
    except ConversationError as exc:
        raise HTTPException(400, f"Not sent: {exc}.") from exc
    await ctx.db.commit()


async def reply_to_complaint(ctx: Ctx) -> Response:
    """A staff reply on a complaint's page: in its history with who and when, and queued for the citizen."""
    found = await queries.find(ctx.db, str(ctx.request.path_params["reference"]), ctx.user)
    if found is None or found.id is None:
        raise HTTPException(404, "No such complaint (or not in your categories).")
    complaint = await queries.lock(ctx.db, found.id)
    assert complaint is not None and complaint.id is not None
    handover = await handovers.open_handover_of_complaint(ctx.db, complaint.id)
    await _send_reply(ctx, complaint, handover)
    return RedirectResponse(f"{ctx.base}/complaints/{complaint.reference}?ok=reply#conversation", status_code=303)
