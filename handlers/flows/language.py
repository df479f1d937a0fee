"""The language flow: English, Urdu or Roman Urdu, remembered per user."""

from __future__ import annotations

from handlers.context import Context
from handlers.flows.base import Flow
from handlers.messages import Option, Outcome
from knowledge.normalize import normalize_chars
from knowledge.schema import LANGUAGES


class LanguageFlow(Flow):
    name = "language"

    def _options(self, ctx: Context) -> list[Option]:
        return [ctx.option(f"language_{lang}", f"lang:{lang}") for lang in LANGUAGES]

    async def start(self, ctx: Context) -> Outcome:
        ctx.enter(self.name, "choose", {})
        return ctx.outcome(ctx.t("language_prompt"), self._options(ctx), intent="language")

    def _chosen(self, ctx: Context) -> str | None:
        if ctx.payload and ctx.payload.startswith("lang:"):
            return ctx.payload.removeprefix("lang:")
        said = normalize_chars(ctx.text)
        for lang, words in ctx.kb.lexicon.languages.items():
            if said in {normalize_chars(w) for w in words}:
                return lang
        return None

    async def step(self, ctx: Context) -> Outcome:
        lang = self._chosen(ctx)
        if lang not in LANGUAGES:
            return self.reask(ctx, ctx.t("language_prompt"), self._options(ctx))
        ctx.choose_language(lang)
        ctx.leave()
        return ctx.outcome(ctx.t("language_set"), intent="language")
