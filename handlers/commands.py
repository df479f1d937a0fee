"""Commands a user can send at any time: start, help, menu, cancel, language, status, the guided tools."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers.complaints import show_status
from handlers.context import Context
from handlers.flows import FLOWS
from handlers.flows.base import menu_options
from handlers.flows.privacy import my_data
from handlers.messages import Outcome
from knowledge.normalize import normalize_chars


class CommandWords:
    """Recognises a whole message as a command, in any of the words lexicon.yaml lists for it."""

    def __init__(self, commands: dict[str, list[str]]) -> None:
        self._words = {normalize_chars(word): name for name, words in commands.items() for word in words}

    def parse(self, text: str, payload: str | None) -> tuple[str, str] | None:
        """(command, argument) for "/status CMP-1", "status", "مینو" or a cmd: payload; else None."""
        if payload and payload.startswith("cmd:"):
            return payload.removeprefix("cmd:"), ""
        stripped = text.strip()
        if stripped.startswith("/"):
            head, _, argument = stripped[1:].partition(" ")
            return head.split("@", 1)[0].casefold(), argument.strip()
        said = normalize_chars(stripped)
        if said in self._words:
            return self._words[said], ""
        head, _, argument = said.partition(" ")
        if self._words.get(head) == "status" and argument:
            return "status", stripped.split(None, 1)[1]
        return None


def welcome(ctx: Context) -> Outcome:
    return ctx.outcome(ctx.t("welcome"), menu_options(ctx), intent="greeting")


async def start(ctx: Context, _: str) -> Outcome:
    ctx.leave()
    return welcome(ctx)


async def menu(ctx: Context, _: str) -> Outcome:
    ctx.leave()
    return ctx.outcome(ctx.t("menu"), menu_options(ctx), intent="menu")


async def help_(ctx: Context, _: str) -> Outcome:
    return ctx.outcome(ctx.t("help"), menu_options(ctx), intent="help")


async def cancel(ctx: Context, _: str) -> Outcome:
    had_flow = ctx.conversation.flow is not None
    ctx.leave()
    text = ctx.t("cancelled") if had_flow else ctx.t("nothing_to_cancel")
    return ctx.outcome(f"{text} {ctx.t('menu')}", menu_options(ctx), intent="cancel")


async def status(ctx: Context, argument: str) -> Outcome:
    return await show_status(ctx, argument)


def _flow(name: str) -> Callable[[Context, str], Awaitable[Outcome]]:
    async def begin(ctx: Context, _: str) -> Outcome:
        return await FLOWS[name].start(ctx)

    return begin


async def complaint_start(ctx: Context) -> Outcome:
    outcome = await FLOWS["complaint"].start(ctx)
    outcome.intent = "complaint_start"
    return outcome


async def complain(ctx: Context, _: str) -> Outcome:
    return await complaint_start(ctx)


COMMANDS: dict[str, Callable[[Context, str], Awaitable[Outcome]]] = {
    "start": start,
    "menu": menu,
    "help": help_,
    "cancel": cancel,
    "language": _flow("language"),
    "status": status,
    "fees": _flow("fees"),
    "parks": _flow("parks"),
    "programmes": _flow("programmes"),
    "complain": complain,
    "mydata": my_data,
    "delete": _flow("delete_data"),
}


def entry_label(ctx: Context, entry_id: str) -> str:
    """An entry's first question variant in the reply language, used as its option label."""
    questions = ctx.kb.entries[entry_id].questions
    variants = {"ur": questions.ur, "roman": questions.roman}.get(ctx.lang, questions.en)
    return variants[0]
