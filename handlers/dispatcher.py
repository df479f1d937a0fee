"""The dispatcher: one message in, one transaction, replies out.

Order: a redelivered message is dropped; an option picked by number or label becomes its payload;
"cancel"/"menu" leave any flow; an active flow gets the message; then commands; then the question matcher.
The message claim, the state change and any log rows commit together, so a crash leaves nothing
half-done and a redelivery is processed afresh.

Failures are sorted by meaning (bot.errors): a transient one (the database out of reach or busy) is raised, and
the channel answers 503 so the message is delivered again; any other (a bug, a constraint, bad data) is logged
with its traceback, the message is kept as a dead letter with its id claimed (handlers.deadletters), and the user
gets a short apology: a redelivery would only fail the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import Database
from bot.domain.office_hours import OfficeHours
from bot.errors import is_transient
from bot.logs import request_id
from bot.metrics import Timer, message_handled
from bot.models import utcnow
from bot.storage.conversations import Profile, claim_message, load_state, save_state
from handlers import case_messages, deadletters, handover
from handlers.commands import COMMANDS, CommandWords, complaint_start
from handlers.complaints import show_status
from handlers.context import Context
from handlers.flows import FLOWS
from handlers.flows.base import menu_options
from handlers.flows.parks import parks_at_location
from handlers.flows.verdict import offered_payload
from handlers.handover_words import HandoverWords
from handlers.messages import Incoming, Outcome, Reply
from handlers.outbox import keep_outcome, keep_replies, mark_delivered, stored_outcome
from handlers.questions import answer_question, picked_entry
from knowledge.intents import Intent, without_reference
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher
from knowledge.normalize import normalize_chars

log = logging.getLogger(__name__)

LEAVING_COMMANDS = frozenset({"cancel", "menu", "start"})
FREE_TEXT_STEPS = ("question", "description", "edit")  # complaint steps whose answer may mention a reference
SHORT_REFERENCE_WORDS = 5  # "CMP 2026 000123 status?" is a status check even in the middle of filing a complaint


def pick_option(text: str, options: list[dict[str, str]]) -> str | None:
    """The payload of the option the user named by its number ("2") or its label."""
    said = normalize_chars(text)
    if not said or not options:
        return None
    if said.isdigit():
        index = int(said) - 1
        return options[index]["payload"] if 0 <= index < len(options) else None
    for option in options:
        if normalize_chars(option["label"]) == said:
            return option["payload"]
    return None


class Dispatcher:
    def __init__(
        self,
        db: Database,
        kb: KnowledgeBase,
        matcher: Matcher,
        *,
        flow_timeout: dt.timedelta = dt.timedelta(minutes=30),
        max_chars: int = 4000,
        rate_limit: tuple[int, dt.timedelta] = (30, dt.timedelta(minutes=1)),
        log_days: int = 30,
        reply_window: dt.timedelta = dt.timedelta(hours=72),
        handover_words: HandoverWords | None = None,
        unanswered_per_day: int = 20,
        pseudonym_key: str = "",
        office_hours: OfficeHours | None = None,
        verdict_days: int = 7,
    ) -> None:
        self.db = db
        self.kb = kb
        self.matcher = matcher
        self.flow_timeout = flow_timeout
        self.max_chars = max_chars
        self.rate_limit = rate_limit
        self.log_days = log_days
        self.unanswered_per_day = unanswered_per_day
        self.pseudonym_key = pseudonym_key
        self.verdict_days = verdict_days
        self.commands = CommandWords(kb.lexicon.commands)
        self.reply_window = reply_window  # a citizen's messages this soon after a complaint's update go to it
        if handover_words is None:
            assert kb.handover is not None  # the loader refuses a knowledge base without it
            handover_words = HandoverWords.of(kb.handover)
        self.handover_words = handover_words
        self.office_hours = office_hours  # None: staff answer at any time
        self.clock: Callable[[], dt.datetime] = utcnow  # what "now" is for a message (tests set a fixed time)

    async def handle(self, msg: Incoming, payload: str | None = None) -> Outcome:
        """Handle one message exactly once; a repeat of a handled message id returns `duplicate=True` with the
        replies the message was given the first time.

        The outcome is returned only once the message's transaction has committed. A transient database failure
        is raised (the channel answers 503); any other failure keeps the message as a dead letter, with `payload`
        (what the channel received, as text), and returns an apology (intent "failed").
        """
        now = self.clock()
        timer = Timer()
        request_id.set(f"{msg.channel}:{msg.message_id[:40]}")
        try:
            outcome = await self.db.messages.run(
                lambda session: self.process(session, msg, now), key=(msg.channel, msg.user_id)
            )
        except Exception as exc:
            if is_transient(exc):
                raise
            log.exception("%s message %s: handling failed; kept as a dead letter", msg.channel, msg.message_id[:40])
            outcome = await deadletters.keep(self, msg, payload, exc)
        message_handled(msg.channel, "duplicate" if outcome.duplicate else outcome.intent, timer.seconds)
        return outcome

    async def stored_replies(self, msg: Incoming) -> Outcome:
        """The replies a handled message was given, and how many of them went out (a duplicate's outcome)."""
        return await self.db.messages.run(lambda session: stored_outcome(session, msg), key=(msg.channel, msg.user_id))

    async def replies_delivered(self, msg: Incoming, count: int) -> None:
        """A channel that sends replies itself (Telegram) records how many went out, so a redelivery of the same
        message sends only the rest."""
        await self.db.messages.run(lambda session: mark_delivered(session, msg, count), key=(msg.channel, msg.user_id))

    async def process(self, session: AsyncSession, msg: Incoming, now: dt.datetime) -> Outcome:
        """The message's work inside `session`'s transaction (claim, route, save); raises what handling raised."""
        limit, window = self.rate_limit
        # A request seen before (its replay key) is a redelivery, or a replay under another message id: either
        # way it is not handled again, and only a message handled before has replies to repeat.
        replayed = msg.replay_key and not await claim_message(
            session, msg.channel, msg.replay_key, msg.user_id, msg.received_at
        )
        if replayed or not await claim_message(session, msg.channel, msg.message_id, msg.user_id, msg.received_at):
            return await stored_outcome(session, msg)
        state = await load_state(session, msg.channel, msg.user_id, msg.display_name, msg.received_at, now, window)
        profile = state.profile
        erased = False
        if profile.rate_count > limit:  # one friendly notice per window, then silence
            lang = self._reply_language(msg, profile)
            replies = [] if profile.rate_notified else [Reply(self.kb.texts("rate_limited", lang))]
            profile.rate_notified = True
            outcome = Outcome(replies=replies, intent="rate_limited", language=lang)
        else:
            ctx = Context(
                msg=msg,
                session=session,
                profile=profile,
                conversation=state.conversation,
                kb=self.kb,
                matcher=self.matcher,
                lang=self._reply_language(msg, profile),
                now=now,
                flow_timeout=self.flow_timeout,
                text=msg.text.strip(),
                log_days=self.log_days,
                unanswered_per_day=self.unanswered_per_day,
                pseudonym_key=self.pseudonym_key,
                office_hours=self.office_hours,
                verdict_days=self.verdict_days,
            )
            outcome = await self._route(ctx)
            erased = bool(ctx.extra.get("erased"))
            state.conversation.options = [{"label": o.label, "payload": o.payload} for o in outcome.options]
        if not erased:  # after an erasure the profile and conversation are gone, and stay gone
            await save_state(session, state)
        # The replies are kept even then (an erasure's confirmation names nobody): a redelivery, or a channel that
        # sends them later, still has them.
        await keep_outcome(session, msg, outcome)
        if msg.reply_later:
            await keep_replies(session, msg, outcome, now)
        return outcome

    def _reply_language(self, msg: Incoming, profile: Profile) -> str:
        """The conversation's language: the user's choice; else the language they write in (Urdu script, Roman Urdu
        or English), remembered so that buttons, digits and one-word answers keep it; else the channel's hint (the
        phone's language); else English."""
        if msg.reply_language:
            return msg.reply_language
        if profile.language_chosen and profile.language:
            return profile.language
        written = self.matcher.language_of(msg.text) if msg.text and not msg.payload else None
        if written:
            profile.language = written
            return written
        if profile.language:
            return profile.language
        return "ur" if (msg.language_hint or "").lower().startswith("ur") else "en"

    async def _route(self, ctx: Context) -> Outcome:
        if len(ctx.text) > self.max_chars:
            return ctx.outcome(ctx.t("too_long", length=len(ctx.text), limit=self.max_chars), intent="too_long")
        # the "Was it solved?" that came with a resolution is answered before older options are matched
        ctx.payload = ctx.msg.payload or await offered_payload(ctx) or pick_option(ctx.text, ctx.conversation.options)
        if ctx.payload and ctx.payload.startswith("verdict:"):
            ctx.leave()  # a button of the resolution's message: answered whatever flow was going on
        command = self.commands.parse(ctx.text, ctx.payload)
        if not ctx.payload and (language := self.matcher.intents.language_request(ctx.text)):
            # "urdu me batao" works anywhere, a flow included (which then goes on in that language)
            ctx.choose_language(language)
            if ctx.conversation.flow == "language":  # the language flow's question is answered by this
                ctx.leave()
            return ctx.outcome(ctx.t("language_set"), intent="language")
        asked = self.matcher.intents.read(ctx.text) if not ctx.payload else None
        if asked is not None and asked.kind == "status" and self._status_now(ctx, asked.value):
            ctx.leave()  # "CMP-2026-000123", "meri shikayat ka kya bana": a status check, whatever step they were at
            return await show_status(ctx, asked.value)
        if held := await handover.during(ctx, self.handover_words, command):
            return held  # staff hold (or await) the conversation: the message is theirs, the bot is quiet
        flow = FLOWS.get(ctx.conversation.flow or "")
        if flow and not (command and command[0] in LEAVING_COMMANDS):
            return await flow.step(ctx)
        if command and command[0] in COMMANDS:
            return await COMMANDS[command[0]](ctx, command[1])
        if ctx.payload:
            return await self._payload(ctx, ctx.payload)
        if ctx.msg.location:
            return parks_at_location(ctx, ctx.msg.location)
        if self.handover_words.person.said(ctx.text):
            return await handover.start(ctx)
        kept = ctx.extra.get("kept_for_staff")  # out of hours, a waiting handover has the message already
        if (ctx.text or ctx.msg.media) and not kept and (to_case := await case_messages.route(ctx, self.reply_window)):
            return to_case
        if not normalize_chars(ctx.text):
            return ctx.outcome(ctx.t("empty_message"), [ctx.option("opt_menu", "cmd:menu")], intent="empty")
        return await answer_question(ctx)

    def _status_now(self, ctx: Context, reference: str) -> bool:
        """A status check interrupts any flow, except that a complaint's own description may mention an earlier
        complaint: at a step that takes free text only a message that is little more than a reference counts, or
        one that asks for status in so many words besides the reference ("aur meri pichli complaint CMP-... ka
        status bhi bata do"). At a step that offers choices a reference can only be asking about it."""
        if ctx.conversation.flow != "complaint" or ctx.conversation.step not in FREE_TEXT_STEPS:
            return True
        if not reference:
            return False
        if len(normalize_chars(ctx.text).split()) <= SHORT_REFERENCE_WORDS:
            return True
        return self.matcher.intents.read(without_reference(ctx.text)) == Intent("status")

    async def _payload(self, ctx: Context, payload: str) -> Outcome:
        kind, _, value = payload.partition(":")
        if kind == "kb" and value in ctx.kb.entries:
            return await picked_entry(ctx, value)
        if kind == "complaint":
            return await complaint_start(ctx)
        if kind == "status":
            return await show_status(ctx, value)
        if kind in ("reopen", "verdict"):  # reopening asks the citizen why first
            return await FLOWS["verdict"].start(ctx)
        if kind == "rate":
            return await FLOWS["rating"].start(ctx)
        if kind == "handover":
            return await handover.payload(ctx, value)
        if kind == "case" and value.startswith("ask:"):
            return await case_messages.ask_bot(ctx, value.removeprefix("ask:"))
        if kind == "flow" and value in FLOWS:
            return await FLOWS[value].start(ctx)
        log.warning("unknown payload %r from channel %s", payload[:80], ctx.msg.channel)
        return ctx.outcome(ctx.t("menu"), menu_options(ctx), intent="menu")
