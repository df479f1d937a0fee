"""A guided flow: a few steps, each asking one thing, with its position stored in the conversation row."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping

from handlers.context import Context
from handlers.messages import Option, Outcome
from knowledge.normalize import normalize_chars

MAX_RETRIES = 1


class Flow(ABC):
    """Subclasses implement `start` and `step`; `reask` gives the shared re-ask-once behaviour."""

    name: str

    @abstractmethod
    async def start(self, ctx: Context) -> Outcome: ...

    @abstractmethod
    async def step(self, ctx: Context) -> Outcome: ...

    def reask(self, ctx: Context, prompt: str, options: list[Option]) -> Outcome:
        """Ask the same step again once, with its options; after that, leave the flow for the menu."""
        retries = int(ctx.conversation.data.get("_retries", 0))
        if retries >= MAX_RETRIES:
            ctx.leave()
            return ctx.outcome(ctx.t("gave_up") + " " + ctx.t("menu"), menu_options(ctx), intent="flow_abandoned")
        ctx.conversation.data = {**ctx.conversation.data, "_retries": retries + 1}
        ctx.enter(self.name, ctx.conversation.step or "", ctx.conversation.data)
        return ctx.outcome(f"{ctx.t('reask')}\n{prompt}", options, intent="reask")


def menu_options(ctx: Context) -> list[Option]:
    """The main menu's choices: the guided tools, complaints and language."""
    return [
        ctx.option("menu_parks", "flow:parks"),
        ctx.option("menu_fees", "flow:fees"),
        ctx.option("menu_programmes", "flow:programmes"),
        ctx.option("menu_complaint", "complaint:start"),
        ctx.option("menu_status", "cmd:status"),
        ctx.option("menu_person", "handover:start"),
        ctx.option("menu_language", "cmd:language"),
    ]


def pick_word(text: str, choices: Mapping[str, Iterable[str]]) -> str | None:
    """The one key whose words appear in `text` ("I am a startup" -> "startup"); None if none or several."""
    said = f" {normalize_chars(text)} "
    found = {
        key for key, words in choices.items() for word in words if (w := normalize_chars(word)) and f" {w} " in said
    }
    return found.pop() if len(found) == 1 else None
