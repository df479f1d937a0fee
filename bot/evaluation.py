"""Run a blind evaluation set through the whole core, as a user would meet it (`sahulat eval` on a blind file).

Each question is a fresh conversation on a throwaway database; its `context` messages are sent first in the same
conversation, so follow-ups are judged as they happen in a chat.
"""

from __future__ import annotations

from collections.abc import Iterable

from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming, Outcome
from knowledge.blind import BlindItem, BlindReport, Reply, judge

CHANNEL = "cli"


def as_reply(outcome: Outcome) -> Reply:
    """The user's view of an outcome: every reply's text, and the options offered."""
    return Reply(
        text="\n\n".join(reply.text for reply in outcome.replies),
        intent=outcome.intent,
        language=outcome.language,
        options=tuple(option.label for option in outcome.options),
        entry_id=outcome.entry_id,
    )


async def ask_in_conversation(dispatcher: Dispatcher, user_id: str, messages: Iterable[str]) -> Outcome:
    """Send `messages` one after another as one user; the last one's outcome."""
    outcome = Outcome()
    for text in messages:
        outcome = await dispatcher.handle(Incoming(channel=CHANNEL, user_id=user_id, text=text))
    return outcome


async def run_blind(dispatcher: Dispatcher, items: list[BlindItem], name: str) -> BlindReport:
    report = BlindReport(name)
    for item in items:
        outcome = await ask_in_conversation(dispatcher, f"blind-{item.id}", [*item.context, item.text])
        reply = as_reply(outcome)
        report.add(item, reply, judge(item, reply))
    return report
