"""The citizen's verdict on a resolved complaint: "Was it solved?" came with the resolution (yes / no).

"Yes" closes the complaint and asks for a 1-5 rating (the rating flow's question); "no", like "reopen" from the
status view, asks what is still wrong and reopens the complaint with that reason. On WhatsApp the question's
options are numbered text, so a "1" or "yes" that follows it is read as its answer (`offered_payload`).
"""

from __future__ import annotations

import datetime as dt

from bot.domain.complaints import REOPEN_DAYS, ComplaintError, own_complaint, reopen, status_name
from bot.domain.verdict import awaiting, confirm_solved
from bot.models import Complaint
from handlers.context import Context
from handlers.flows.base import Flow
from handlers.messages import Option, Outcome
from knowledge.normalize import normalize_chars

REASON_CHARS = 2000


class VerdictFlow(Flow):
    """Started by a `verdict:yes|no:<ref>` or `reopen:<ref>` payload; its one step takes the reason for "no"."""

    name = "verdict"

    async def start(self, ctx: Context) -> Outcome:
        kind, _, rest = (ctx.payload or "").partition(":")
        answer, reference = ("no", rest) if kind == "reopen" else rest.partition(":")[::2]
        complaint = await own_complaint(ctx.session, ctx.msg.channel, ctx.msg.user_id, reference)
        if complaint is None:
            return ctx.outcome(ctx.t("status_not_found", reference=reference), intent="status")
        if refused := self._refused(ctx, complaint, kind):
            return refused
        if answer == "yes":
            await confirm_solved(ctx.session, complaint, ctx.now)
            ctx.enter("rating", "stars", {"reference": reference})
            options = [Option(str(n), f"stars:{n}") for n in range(1, 6)]
            text = ctx.t("verdict_thanks", reference=reference) + "\n" + ctx.t("rate_ask", reference=reference)
            return ctx.outcome(text, options, intent="verdict")
        ctx.enter(self.name, "reason", {"reference": reference})
        cancel = ctx.option("opt_cancel", "cmd:cancel")
        return ctx.outcome(ctx.t("verdict_why", reference=reference), [cancel], intent="verdict")

    def _refused(self, ctx: Context, complaint: Complaint, kind: str) -> Outcome | None:
        """Why this complaint cannot take the answer now (not resolved any more, or resolved too long ago)."""
        reference = complaint.reference
        status = status_name(ctx.kb, complaint.status, ctx.lang)
        if complaint.status != "resolved":
            key = "reopen_not_resolved" if kind == "reopen" else "verdict_not_waiting"
            return ctx.outcome(ctx.t(key, reference=reference, status=status), intent="verdict")
        if complaint.resolved_at and ctx.now - complaint.resolved_at > dt.timedelta(days=REOPEN_DAYS):
            return ctx.outcome(ctx.t("reopen_too_late", reference=reference, days=REOPEN_DAYS), intent="reopen")
        return None

    async def step(self, ctx: Context) -> Outcome:
        reference = str(ctx.conversation.data.get("reference", ""))
        reason = " ".join(ctx.text.split())[:REASON_CHARS]
        if not reason:
            return self.reask(ctx, ctx.t("verdict_why_empty"), [ctx.option("opt_cancel", "cmd:cancel")])
        complaint = await own_complaint(ctx.session, ctx.msg.channel, ctx.msg.user_id, reference)
        ctx.leave()
        if complaint is None:
            return ctx.outcome(ctx.t("status_not_found", reference=reference), intent="status")
        try:
            await reopen(ctx.session, complaint, ctx.now, reason=reason)
        except ComplaintError as exc:
            if str(exc) == "too late":
                return ctx.outcome(ctx.t("reopen_too_late", reference=reference, days=REOPEN_DAYS), intent="reopen")
            status = status_name(ctx.kb, complaint.status, ctx.lang)
            return ctx.outcome(ctx.t("reopen_not_resolved", reference=reference, status=status), intent="reopen")
        return ctx.outcome(ctx.t("reopen_done", reference=reference), intent="reopen")


async def offered_payload(ctx: Context) -> str | None:
    """A "1", "2", "yes" or "no" that answers the "Was it solved?" the citizen was last asked (WhatsApp's numbered
    options): its payload; None when the message is not such an answer (the usual option matching goes on)."""
    if ctx.conversation.flow or ctx.msg.payload or not ctx.text or len(ctx.text) > 20:
        return None
    answers = {"yes": ("1", *(ctx.kb.texts("opt_yes", lang) for lang in ("en", "ur", "roman")))}
    answers["no"] = ("2", *(ctx.kb.texts("opt_no", lang) for lang in ("en", "ur", "roman")))
    said = normalize_chars(ctx.text)
    answer = next((a for a, words in answers.items() if said in {normalize_chars(w) for w in words}), None)
    if answer is None:
        return None
    ids = tuple(i for i in (ctx.msg.message_id, ctx.msg.replay_key) if i)
    complaint = await awaiting(ctx.session, ctx.msg.channel, ctx.msg.user_id, ids, ctx.now, ctx.verdict_days)
    return f"verdict:{answer}:{complaint.reference}" if complaint else None
