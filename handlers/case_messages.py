"""Replies reach the case: what a citizen writes just after a staff note or status change (or in reply to one)
goes to that complaint for staff, not to the question matcher.

A message counts when it replies to a complaint's notification (Telegram's reply_to_message, WhatsApp's
OriginalRepliedMessageSid), or arrives within the reply window of one that was sent. The bot confirms once per
notification and offers "ask the bot instead"; with several such complaints it asks which one first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.domain.complaints import own_complaint
from bot.domain.conversation import add_citizen_message, asked_bot_instead, bot_said
from bot.models import Complaint
from bot.storage.handovers import complaint_of_sent_message, last_event, notified_since
from handlers.context import Context
from handlers.messages import Option, Outcome

PICK_FLOW = "case_pick"


def attachments(ctx: Context) -> list[dict[str, Any]] | None:
    """The message's photos and documents as stored with it (the channel's handle, not the file)."""
    found = [{"kind": m.kind, "ref": m.ref, "content_type": m.content_type} for m in ctx.msg.media]
    return found or None


# The window closes when the citizen asks the bot instead, or a conversation with a person ends ("back to the bot",
# staff hand back or close); only a later update (a status change, a note, a staff reply) opens it again. The
# updates' notifications can go out after the end (the outbox sends them later, and ending a conversation sends its
# own message about the complaint), so their events' times count, not when their notifications were sent.
WINDOW_ENDS = ("asked_bot", "handed_back", "closed")
UPDATES = ("status", "public_note", "staff_reply")


async def _still_open(ctx: Context, complaint: Complaint) -> bool:
    """Whether the complaint's reply window is open: not ended since its latest update."""
    assert complaint.id is not None
    ended = await last_event(ctx.session, complaint.id, WINDOW_ENDS)
    if ended is None:
        return True
    update = await last_event(ctx.session, complaint.id, UPDATES)
    return update is not None and (update.created_at, update.id or 0) > (ended.created_at, ended.id or 0)


async def route(ctx: Context, window: dt.timedelta) -> Outcome | None:
    """The message added to a complaint (or the question which one), or None when it is not for a complaint."""
    if ctx.msg.reply_to:
        complaint = await complaint_of_sent_message(ctx.session, ctx.msg.channel, ctx.msg.user_id, ctx.msg.reply_to)
        if complaint is not None:
            return await add(ctx, complaint, ctx.text, attachments(ctx))
    if window <= dt.timedelta(0):
        return None
    recent = await notified_since(ctx.session, ctx.msg.channel, ctx.msg.user_id, ctx.now - window)
    candidates = [complaint for complaint, _sent in recent if await _still_open(ctx, complaint)]
    if not candidates:
        return None
    if len(candidates) == 1:
        return await add(ctx, candidates[0], ctx.text, attachments(ctx))
    refs = [c.reference for c in candidates[:8]]
    data = {"text": ctx.text[:4000], "media": attachments(ctx) or [], "refs": refs}
    ctx.enter(PICK_FLOW, "which", data)
    options = [Option(c.reference, f"case:to:{c.reference}") for c in candidates[:8]]
    return ctx.outcome(ctx.t("case_which"), [*options, ctx.option("opt_ask_bot", "case:ask:")], intent="case_which")


async def add(ctx: Context, complaint: Complaint, text: str, media: list[dict[str, Any]] | None) -> Outcome:
    """Keep the message on the complaint; confirm only the first message since the complaint's last notification."""
    assert complaint.id is not None
    before = await last_event(ctx.session, complaint.id, ("citizen_message", "asked_bot"), actor="citizen")
    update = await last_event(ctx.session, complaint.id, ("status", "public_note", "staff_reply"))
    await add_citizen_message(ctx.session, complaint, text, media, ctx.now)
    confirmed = (
        before is not None
        and before.kind == "citizen_message"
        and (update is None or before.created_at >= update.created_at)
    )
    if confirmed:
        return ctx.outcomes([], intent="case_message")
    ask = ctx.option("opt_ask_bot", f"case:ask:{complaint.reference}")
    text = ctx.t("case_added", reference=complaint.reference)
    await bot_said(ctx.session, None, complaint, text, ctx.now)
    return ctx.outcome(text, [ask], intent="case_message")


async def ask_bot(ctx: Context, reference: str) -> Outcome:
    """ "Ask the bot instead": the citizen's last message to the complaint goes through the matcher, and their next
    messages go to the bot until the complaint's next notification."""
    complaint = await own_complaint(ctx.session, ctx.msg.channel, ctx.msg.user_id, reference) if reference else None
    if complaint is None or complaint.id is None:
        return ctx.outcome(ctx.t("menu"), intent="case_ask")
    said = await last_event(ctx.session, complaint.id, ("citizen_message",), actor="citizen")
    await asked_bot_instead(ctx.session, complaint, ctx.now)
    return await answer_instead(ctx, said.note if said and said.note else "")


async def answer_instead(ctx: Context, text: str) -> Outcome:
    from handlers.questions import answer_question  # here: questions imports the flows, and they import this

    ctx.text = text
    ctx.payload = None
    return await answer_question(ctx)
