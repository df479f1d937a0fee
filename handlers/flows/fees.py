"""Fee checker: who is registering and where; answers the fee the sources give and the exemption rule.

Every figure comes from a knowledge-base entry (with its source line). Whether a city counts as
underserved/secondary comes from city_classes.yaml, which only holds sourced classifications; for any
other city the bot says that the announcement does not list which cities count (nor who decides) and quotes
the rule.
"""

from __future__ import annotations

from handlers.context import Context
from handlers.flows.base import Flow, pick_word
from handlers.messages import Option, Outcome, Reply
from knowledge.normalize import normalize_chars
from knowledge.schema import Place

FEE_ENTRY = {"startup": "fee_startup_registration", "company": "fee_company", "other": "fee_freelancer"}
EXEMPTION_ENTRY = "fee_exemption_secondary_cities"
MAX_CITY_CHARS = 60


class FeeFlow(Flow):
    name = "fees"

    def _who_options(self, ctx: Context) -> list[Option]:
        return [ctx.option(f"who_{key}", f"who:{key}") for key in FEE_ENTRY]

    async def start(self, ctx: Context) -> Outcome:
        ctx.enter(self.name, "who", {})
        return ctx.outcome(ctx.t("fees_who"), self._who_options(ctx), intent="fees")

    async def step(self, ctx: Context) -> Outcome:
        if ctx.conversation.step == "who":
            return self._who(ctx)
        return self._city(ctx)

    def _who(self, ctx: Context) -> Outcome:
        payload = ctx.payload or ""
        who = payload.removeprefix("who:") if payload.startswith("who:") else pick_word(ctx.text, ctx.kb.lexicon.who)
        if who not in FEE_ENTRY:
            return self.reask(ctx, ctx.t("fees_who"), self._who_options(ctx))
        ctx.enter(self.name, "city", {"who": who})
        return ctx.outcome(ctx.t("fees_city"), intent="fees")

    def _city(self, ctx: Context) -> Outcome:
        typed = " ".join(ctx.text.split())[:MAX_CITY_CHARS]
        if not normalize_chars(typed):
            return self.reask(ctx, ctx.t("fees_city"), [])
        who = ctx.conversation.data.get("who", "other")
        places = ctx.matcher.places_in(typed)
        place = ctx.kb.places[places[0]] if places else None
        city = place.name.get(ctx.lang) if place else typed
        ctx.leave()
        replies = [Reply(ctx.kb.answer(FEE_ENTRY[who], ctx.lang)), Reply(self._exemption(ctx, place, city))]
        return ctx.outcomes(replies, intent="answer", entry_id=FEE_ENTRY[who])

    def _exemption(self, ctx: Context, place: Place | None, city: str) -> str:
        """Whether the one-year exemption can apply in `city`, with the rule and its source."""
        rule = ctx.kb.answer(EXEMPTION_ENTRY, ctx.lang)
        classified = ctx.kb.city_classes.get(place.id) if place is not None else None
        if classified is None:
            return f"{ctx.t('fees_city_unclassified', city=city)}\n{rule}"
        key = "fees_city_major" if classified.class_ == "major" else "fees_city_exempt"
        source = ctx.kb.sources[classified.source]
        cited = f"{source.title.get(ctx.lang)}{ctx.kb.texts.separator('comma', ctx.lang)}"
        cited += ctx.kb.texts.date(source.date, ctx.lang)
        text = ctx.t(key, city=city, class_name=ctx.t(f"class_{classified.class_}"), source=cited)
        return f"{text}\n{rule}"
