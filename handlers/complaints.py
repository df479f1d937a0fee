"""The citizen's side of a filed complaint: status and public updates (reopening and rating: handlers/flows).

A citizen only ever sees complaints filed from their own chat (channel and user id); a reference they did not
file gets the same "not found" as a reference that does not exist, so nobody can probe others' complaints.
"""

from __future__ import annotations

from bot.domain.complaints import complaints_of, history, own_complaint, parse_reference, status_name
from bot.models import Complaint
from handlers.context import Context
from handlers.messages import Option, Outcome


def _place(ctx: Context, complaint: Complaint) -> str:
    place = ctx.kb.places.get(complaint.district)
    return place.name.get(ctx.lang) if place else (complaint.district_text or complaint.district)


def _category(ctx: Context, complaint: Complaint) -> str:
    service = ctx.kb.services.get(complaint.category)
    return service.name.get(ctx.lang) if service else complaint.category


async def show_status(ctx: Context, argument: str) -> Outcome:
    """`status` lists the user's complaints; `status CMP-2026-000123` shows one with its public updates."""
    menu = ctx.option("opt_menu", "cmd:menu")
    if argument.strip():
        reference = parse_reference(argument) or argument.strip()[:40]
        complaint = await own_complaint(ctx.session, ctx.msg.channel, ctx.msg.user_id, reference)
        if complaint is None:
            return ctx.outcome(ctx.t("status_not_found", reference=reference), [menu], intent="status")
        return await _detail(ctx, complaint)
    mine = await complaints_of(ctx.session, ctx.msg.channel, ctx.msg.user_id)
    if not mine:
        return ctx.outcome(ctx.t("status_none"), [menu], intent="status")
    lines = [ctx.t("status_list")]
    for complaint in mine:
        lines.append(f"• {complaint.reference}: {status_name(ctx.kb, complaint.status, ctx.lang)}")
    options = [Option(c.reference, f"status:{c.reference}") for c in mine]
    return ctx.outcome("\n".join(lines), [*options, menu], intent="status")


async def _detail(ctx: Context, complaint: Complaint) -> Outcome:
    status = status_name(ctx.kb, complaint.status, ctx.lang)
    lines = [
        ctx.t(
            "status_detail",
            reference=complaint.reference,
            category=_category(ctx, complaint),
            district=_place(ctx, complaint),
            status=status,
            date=ctx.kb.texts.date(complaint.created_at.date(), ctx.lang),
        )
    ]
    if complaint.status in ("rejected", "waiting") and complaint.status_reason:  # why, or what staff need
        lines.append(ctx.t("status_reason", reason=complaint.status_reason))
    updates = [e for e in await history(ctx.session, complaint, public_only=True) if e.note]
    if updates:
        lines.append(ctx.t("status_updates"))
        lines += [f"• {ctx.kb.texts.date(e.created_at.date(), ctx.lang)}: {e.note}" for e in updates]
    if complaint.rating:
        lines.append(ctx.t("status_rated", rating=complaint.rating))
    options = []
    if complaint.status == "resolved":
        options = [
            ctx.option("opt_reopen", f"reopen:{complaint.reference}"),
            ctx.option("opt_rate", f"rate:{complaint.reference}"),
        ]
    elif complaint.status == "closed":
        options = [ctx.option("opt_rate", f"rate:{complaint.reference}")]
    return ctx.outcome("\n".join(lines), [*options, ctx.option("opt_menu", "cmd:menu")], intent="status")
