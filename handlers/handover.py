"""Ask for a person: a handover request (about one of the citizen's complaints, or something new), and the
bot's silence while staff hold the conversation. Every message in the meantime is stored for staff; only the
commands cancel, menu, start, help and status are still answered; "back to the bot" (or cancel) ends it.

Outside office hours (bot/domain/office_hours.py) the request is queued for staff and the citizen told when they
next open; until a member of staff takes it, the bot keeps answering (each message is still kept for staff)."""

from __future__ import annotations

import datetime as dt

from bot.domain.complaints import OPEN_STATUSES, complaints_of, own_complaint
from bot.domain.conversation import CITIZEN, bot_said, citizen_said, end_handover, request_handover
from bot.models import Complaint, Handover
from bot.storage.handovers import complaint_of, open_handover
from handlers.case_messages import PICK_FLOW, attachments
from handlers.context import Context
from handlers.flows.base import menu_options
from handlers.handover_words import HandoverWords
from handlers.messages import Option, Outcome

ANSWERED_COMMANDS = frozenset({"menu", "start", "help", "status"})  # cancel ends the handover
# The bot's own questions ("Was it solved?", the rating, which complaint) are answered by the bot even while staff
# hold the conversation: their buttons' payloads, and the text answers of the flows they start.
BOT_QUESTION_PAYLOADS = frozenset({"verdict", "reopen", "rate", "stars", "case"})
BOT_QUESTION_FLOWS = frozenset({"verdict", "rating", PICK_FLOW})


async def during(ctx: Context, words: HandoverWords, command: tuple[str, str] | None) -> Outcome | None:
    """While the citizen's handover is open: None to let a command through; else the message is stored (and
    the bot is quiet), or the handover ends."""
    handover = await open_handover(ctx.session, ctx.msg.channel, ctx.msg.user_id)
    if handover is None:
        return None
    if command and command[0] in ANSWERED_COMMANDS:
        return None
    complaint = await complaint_of(ctx.session, handover)
    if ctx.payload == "handover:end" or (command and command[0] == "cancel") or words.back.said(ctx.text):
        await end_handover(ctx.session, handover, complaint, CITIZEN, "handed_back", ctx.now)
        ctx.leave()
        await bot_said(ctx.session, handover, complaint, ctx.t("handover_ended"), ctx.now)
        return ctx.outcome(ctx.t("handover_ended"), menu_options(ctx), intent="handover_end")
    if answers_the_bot(ctx):
        return None
    if handover.status == "waiting" and not _staff_in(ctx):
        # kept for staff, and answered by the bot meanwhile (a guided flow's answers and buttons are the bot's)
        if (ctx.text or ctx.msg.media) and not ctx.payload and not ctx.conversation.flow:
            await citizen_said(ctx.session, handover, complaint, ctx.text, attachments(ctx), ctx.now)
            ctx.extra["kept_for_staff"] = True
        return None
    await citizen_said(ctx.session, handover, complaint, ctx.text, attachments(ctx), ctx.now)
    return ctx.outcomes([], intent="handover_message")


def answers_the_bot(ctx: Context) -> bool:
    """A button of the bot's own question, or the answer to the question of a flow such a button started."""
    kind = (ctx.payload or "").partition(":")[0]
    return kind in BOT_QUESTION_PAYLOADS or ctx.conversation.flow in BOT_QUESTION_FLOWS


def _staff_in(ctx: Context) -> bool:
    return ctx.office_hours is None or ctx.office_hours.is_open(ctx.now)


def opening_text(ctx: Context, when: dt.datetime) -> str:
    """The next opening in the citizen's language: "Monday 1 Dec 2026 at 09:00"."""
    day = when.date()
    return ctx.t(
        "office_opening",
        weekday=ctx.kb.texts.weekday(day, ctx.lang),
        date=ctx.kb.texts.date(day, ctx.lang),
        time=when.strftime("%H:%M"),
    )


async def start(ctx: Context) -> Outcome:
    """ "Talk to a person": about which complaint, when the citizen has open ones; else straight to staff."""
    mine = [
        c
        for c in await complaints_of(ctx.session, ctx.msg.channel, ctx.msg.user_id)
        if c.status in (*OPEN_STATUSES, "waiting") and c.erased_at is None
    ]
    if not mine:
        return await _open(ctx, None)
    options = [Option(c.reference, f"handover:open:{c.reference}") for c in mine[:8]]
    new = ctx.option("opt_something_new", "handover:open:new")
    return ctx.outcome(ctx.t("handover_which"), [*options, new], intent="handover_which")


async def payload(ctx: Context, value: str) -> Outcome:
    """handover:start, handover:open:<reference>|new, handover:end (when no handover is open: just the menu)."""
    action, _, reference = value.partition(":")
    if action == "start":
        return await start(ctx)
    if action == "open":
        complaint = None
        if reference and reference != "new":
            complaint = await own_complaint(ctx.session, ctx.msg.channel, ctx.msg.user_id, reference)
        return await _open(ctx, complaint)
    return ctx.outcome(ctx.t("menu"), menu_options(ctx), intent="menu")


async def _open(ctx: Context, complaint: Complaint | None) -> Outcome:
    handover: Handover | None = await open_handover(ctx.session, ctx.msg.channel, ctx.msg.user_id)
    if handover is None:
        handover = await request_handover(
            ctx.session,
            ctx.msg.channel,
            ctx.msg.user_id,
            language=ctx.lang,
            display_name=ctx.msg.display_name,
            complaint=complaint if complaint is not None and complaint.erased_at is None else None,
            now=ctx.now,
        )
    ctx.leave()
    back = ctx.option("opt_back_to_bot", "handover:end")
    opening = ctx.office_hours.next_opening(ctx.now) if not _staff_in(ctx) and ctx.office_hours else None
    if opening is not None:
        if complaint is not None:
            text = ctx.t(
                "handover_after_hours_complaint", reference=complaint.reference, opening=opening_text(ctx, opening)
            )
        else:
            text = ctx.t("handover_after_hours", opening=opening_text(ctx, opening))
        intent = "handover_after_hours"
    else:
        if complaint is not None:
            text = ctx.t("handover_requested_complaint", reference=complaint.reference)
        else:
            text = ctx.t("handover_requested")
        intent = "handover_request"
    await bot_said(ctx.session, handover, await complaint_of(ctx.session, handover), text, ctx.now)
    return ctx.outcome(text, [back], intent=intent)
