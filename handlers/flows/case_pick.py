"""Which complaint a message is about, when several were just updated (see handlers/case_messages.py)."""

from __future__ import annotations

from bot.domain.complaints import own_complaint
from bot.domain.conversation import asked_bot_instead
from handlers.case_messages import PICK_FLOW, add, answer_instead
from handlers.context import Context
from handlers.flows.base import Flow
from handlers.messages import Option, Outcome


class CasePickFlow(Flow):
    """Several complaints were just updated: the citizen picks which one their message is about."""

    name = PICK_FLOW

    async def start(self, ctx: Context) -> Outcome:  # entered by route(), never from the menu
        return ctx.outcome(ctx.t("case_which"), intent="case_which")

    async def step(self, ctx: Context) -> Outcome:
        data = dict(ctx.conversation.data)
        kind, _, reference = (ctx.payload or "").partition(":to:")
        if ctx.payload == "case:ask:":
            ctx.leave()
            for reference in data.get("refs", []):
                found = await own_complaint(ctx.session, ctx.msg.channel, ctx.msg.user_id, str(reference))
                if found is not None:
                    await asked_bot_instead(ctx.session, found, ctx.now)
            return await answer_instead(ctx, str(data.get("text", "")))
        if kind == "case" and reference:
            complaint = await own_complaint(ctx.session, ctx.msg.channel, ctx.msg.user_id, reference)
            if complaint is not None and complaint.erased_at is None:
                ctx.leave()
                return await add(ctx, complaint, str(data.get("text", "")), data.get("media") or None)
        options = [Option(o["label"], o["payload"]) for o in ctx.conversation.options]
        return self.reask(ctx, ctx.t("case_which"), options)
