"""Programme finder: by province, then by audience; each programme with what the sources say about it."""

from __future__ import annotations

import re

from handlers.context import Context
from handlers.flows.base import Flow, pick_word
from handlers.messages import Option, Outcome
from knowledge.parks import province_key
from knowledge.schema import Programme

PICKABLE_PROVINCES = ("Khyber Pakhtunkhwa", "Punjab", "Gilgit-Baltistan")
ALL = "all"
AUDIENCES = ("freelancers", "startups", "citizens", "government")
_SENTENCE_END = re.compile(r"(?<=[.۔])\s")


def first_sentence(text: str) -> str:
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0]


class ProgrammeFinderFlow(Flow):
    name = "programmes"

    def _province_options(self, ctx: Context) -> list[Option]:
        options = [Option(ctx.t(province_key(p)), f"province:{p}") for p in PICKABLE_PROVINCES]
        return [*options, Option(ctx.t("province_all"), f"province:{ALL}")]

    def _audience_options(self, ctx: Context) -> list[Option]:
        return [Option(ctx.t(f"audience_{a}"), f"audience:{a}") for a in AUDIENCES]

    async def start(self, ctx: Context) -> Outcome:
        ctx.enter(self.name, "province", {})
        return ctx.outcome(ctx.t("programmes_province"), self._province_options(ctx), intent="programmes")

    async def step(self, ctx: Context) -> Outcome:
        if ctx.conversation.step == "province":
            return self._province(ctx)
        return self._audience(ctx)

    def _province(self, ctx: Context) -> Outcome:
        payload = ctx.payload or ""
        if payload.startswith("province:"):
            province = payload.removeprefix("province:")
        elif pick_word(ctx.text, {ALL: ctx.kb.lexicon.synonyms.get("list", [])}):
            province = ALL
        else:
            found = ctx.matcher.provinces_in(ctx.text)
            province = found[0] if found else ""
        if province != ALL and province_key(province) not in ctx.kb.texts:
            return self.reask(ctx, ctx.t("programmes_province"), self._province_options(ctx))
        ctx.enter(self.name, "audience", {"province": province})
        return ctx.outcome(ctx.t("programmes_audience"), self._audience_options(ctx), intent="programmes")

    def _audience(self, ctx: Context) -> Outcome:
        payload = ctx.payload or ""
        if payload.startswith("audience:"):
            audience: str | None = payload.removeprefix("audience:")
        else:
            audience = pick_word(ctx.text, ctx.kb.lexicon.audiences)
        if audience not in AUDIENCES:
            return self.reask(ctx, ctx.t("programmes_audience"), self._audience_options(ctx))
        province = str(ctx.conversation.data.get("province", ALL))
        ctx.leave()
        return self._answer(ctx, province, audience)

    def _answer(self, ctx: Context, province: str, audience: str) -> Outcome:
        def serves(programme: Programme) -> bool:
            # A programme with no province listed is national (PSEB's fees, KP's help to all provinces).
            return province == ALL or not programme.provinces or province in programme.provinces

        matching = [p for p in ctx.kb.programmes if serves(p) and audience in p.audiences]
        unstated = [p for p in ctx.kb.programmes if serves(p) and not p.audiences]
        province_label = ctx.t("province_all") if province == ALL else ctx.t(province_key(province))
        audience_label = ctx.t(f"audience_{audience}")
        if matching:
            lines = [ctx.t("programmes_heading", audience=audience_label, province=province_label)]
        else:
            lines = [ctx.t("programmes_none", audience=audience_label, province=province_label)]
        lines += [self._line(ctx, p) for p in matching]
        if unstated:
            lines += ["", ctx.t("programmes_unstated", province=province_label)]
            lines += [self._line(ctx, p) for p in unstated]
        shown = matching + unstated
        files = [source for p in shown for source in ctx.kb.entries[p.entry].sources]
        text = "\n".join(lines)
        if shown:
            text += f"\n\n{ctx.t('programmes_more')}\n\n{ctx.kb.cite(files, ctx.lang)}"
        options = [Option(p.name.get(ctx.lang), f"kb:{p.entry}") for p in shown]
        return ctx.outcome(text, options, intent="answer", entry_id="programmes_finder")

    def _line(self, ctx: Context, programme: Programme) -> str:
        summary = first_sentence(ctx.kb.entries[programme.entry].answer.get(ctx.lang))
        return f"• {programme.name.get(ctx.lang)}: {summary}"
