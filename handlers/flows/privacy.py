"""`my data` shows what is stored about the user; `delete my data` erases it after a confirmation."""

from __future__ import annotations

from bot.domain.complaints import status_name
from bot.domain.privacy import erase_user, stored_about
from handlers.context import Context
from handlers.flows.base import Flow
from handlers.messages import Option, Outcome

SNIPPET = 80


async def my_data(ctx: Context, _: str = "") -> Outcome:
    stored = await stored_about(ctx.session, ctx.msg.channel, ctx.msg.user_id)
    texts, lang = ctx.kb.texts, ctx.lang
    lines = [ctx.t("mydata_heading")]
    profile = stored.profile
    if profile:
        lines.append(
            ctx.t(
                "mydata_profile",
                name=profile.display_name or ctx.t("none_given"),
                language=ctx.t(f"language_{profile.language}") if profile.language else ctx.t("none_given"),
                first=texts.date(profile.first_seen_at.date(), lang),
                last=texts.date(profile.last_inbound_at.date(), lang),
            )
        )
    lines.append(ctx.t("mydata_messages", count=stored.messages, days=ctx.log_days))
    if stored.conversation and stored.conversation.flow:
        minutes = int(ctx.flow_timeout.total_seconds() // 60)
        lines.append(ctx.t("mydata_flow", flow=stored.conversation.flow, minutes=minutes))
    for complaint in stored.complaints:
        extras = ""
        if complaint.attachments or complaint.latitude is not None:
            location = ctx.t("mydata_location") if complaint.latitude is not None else ""
            extras = ctx.t("mydata_extras", attachments=len(complaint.attachments), location=location)
        description = (
            complaint.description if len(complaint.description) <= SNIPPET else complaint.description[:SNIPPET] + "…"
        )
        lines.append(
            ctx.t(
                "mydata_complaint",
                reference=complaint.reference,
                status=status_name(ctx.kb, complaint.status, lang),
                description=description,
                extras=extras,
            )
        )
    if stored.files:
        lines.append(ctx.t("mydata_files", count=stored.files))
    lines += ["", ctx.t("mydata_delete_hint")]
    return ctx.outcome(
        "\n".join(lines), [ctx.option("opt_erase", "cmd:delete"), ctx.option("opt_menu", "cmd:menu")], intent="mydata"
    )


class DeleteDataFlow(Flow):
    """Erasure needs a yes: one stray message must not wipe someone's complaints."""

    name = "delete_data"

    def _options(self, ctx: Context) -> list[Option]:
        return [ctx.option("opt_erase", "erase:yes"), ctx.option("opt_keep", "erase:no")]

    async def start(self, ctx: Context) -> Outcome:
        ctx.enter(self.name, "confirm", {})
        return ctx.outcome(ctx.t("delete_confirm"), self._options(ctx), intent="delete")

    async def step(self, ctx: Context) -> Outcome:
        choice = ctx.payload if ctx.payload in ("erase:yes", "erase:no") else None
        if choice is None:
            return self.reask(ctx, ctx.t("delete_confirm"), self._options(ctx))
        ctx.leave()
        if choice == "erase:no":
            return ctx.outcome(ctx.t("delete_kept"), intent="delete")
        count = await erase_user(ctx.session, ctx.msg.channel, ctx.msg.user_id, ctx.now, key=ctx.pseudonym_key)
        ctx.extra["erased"] = True
        return ctx.outcome(ctx.t("deleted", complaints=count), intent="deleted")
