"""Rating a resolved complaint, 1 to 5, started from its status view."""

from __future__ import annotations

from bot.domain.complaints import ComplaintError, own_complaint, rate, status_name
from handlers.context import Context
from handlers.flows.base import Flow
from handlers.messages import Option, Outcome


class RatingFlow(Flow):
    """Asks for a 1-5 rating of a resolved complaint (started from its status view)."""

    name = "rating"

    def _options(self) -> list[Option]:
        return [Option(str(n), f"stars:{n}") for n in range(1, 6)]

    async def start(self, ctx: Context) -> Outcome:
        reference = (ctx.payload or "").removeprefix("rate:")
        complaint = await own_complaint(ctx.session, ctx.msg.channel, ctx.msg.user_id, reference)
        if complaint is None:
            return ctx.outcome(ctx.t("status_not_found", reference=reference), intent="status")
        if complaint.status not in ("resolved", "closed"):
            status = status_name(ctx.kb, complaint.status, ctx.lang)
            return ctx.outcome(ctx.t("rate_not_resolved", reference=reference, status=status), intent="rating")
        ctx.enter(self.name, "stars", {"reference": reference})
        return ctx.outcome(ctx.t("rate_ask", reference=reference), self._options(), intent="rating")

    async def step(self, ctx: Context) -> Outcome:
        reference = str(ctx.conversation.data.get("reference", ""))
        said = (
            (ctx.payload or "").removeprefix("stars:") if (ctx.payload or "").startswith("stars:") else ctx.text.strip()
        )
        complaint = await own_complaint(ctx.session, ctx.msg.channel, ctx.msg.user_id, reference)
        if not (said.isdigit() and 1 <= int(said) <= 5) or complaint is None:
            return self.reask(ctx, ctx.t("rate_ask", reference=reference), self._options())
        try:
            await rate(ctx.session, complaint, int(said), ctx.now)
        except ComplaintError:
            ctx.leave()
            status = status_name(ctx.kb, complaint.status, ctx.lang)
            return ctx.outcome(ctx.t("rate_not_resolved", reference=reference, status=status), intent="rating")
        ctx.leave()
        return ctx.outcome(ctx.t("rate_done", reference=reference, rating=said), intent="rating")
