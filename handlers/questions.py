"""Answering free text: what the message asks the bot to do, then the question(s) in it, read against the
conversation's last topic; and saying so when the sources are silent."""

from __future__ import annotations

from dataclasses import replace

from bot.storage.unanswered import keep_question
from handlers.commands import complaint_start, entry_label, welcome
from handlers.complaints import show_status
from handlers.context import Context
from handlers.flows.base import menu_options
from handlers.messages import Option, Outcome, Reply
from knowledge.intents import Intent
from knowledge.match_types import Match


def answer_entry(ctx: Context, entry_id: str, *, intent: str = "answer", score: float | None = None) -> Outcome:
    """An entry's answer with its source line; declining entries also offer the menu and a complaint."""
    entry = ctx.kb.entries[entry_id]
    options = _fallback_options(ctx) if entry.declines else []
    return ctx.outcome(ctx.kb.answer(entry_id, ctx.lang), options, intent=intent, entry_id=entry_id, score=score)


def _fallback_options(ctx: Context) -> list[Option]:
    return [ctx.option("opt_menu", "cmd:menu"), ctx.option("opt_complaint", "complaint:start")]


def _declined(ctx: Context, match: Match) -> Outcome:
    """What the sources do not say, said plainly; with what they do say about the same thing, when known."""
    if match.entry_id and match.intent == "decline":  # a facet this entry does not give ("when will it open")
        about = answer_entry(ctx, match.entry_id, intent="decline", score=match.score)
        if match.facet:
            own = f"facet_missing_{match.facet}"  # a facet whose heading is a sentence of its own
            heading = ctx.t(own) if own in ctx.kb.texts else ctx.t("facet_missing", facet=ctx.t(f"facet_{match.facet}"))
            about.replies[0] = replace(about.replies[0], text=f"{heading}\n\n{about.replies[0].text}")
        return about
    if match.entry_id:  # an entry written to say what the sources do not cover
        return answer_entry(ctx, match.entry_id, intent="out_of_scope", score=match.score)
    options = _fallback_options(ctx)
    if match.facet:
        text = ctx.t("no_info_facet", facet=ctx.t(f"facet_{match.facet}"))
        return ctx.outcome(text, options, intent="decline", score=match.score)
    if match.near_domain:
        text = ctx.t("no_info")
    else:
        text = ctx.t("out_of_scope")
        options = menu_options(ctx)
    return ctx.outcome(text, options, intent="out_of_scope", score=match.score)


async def log_unanswered(ctx: Context, match: Match, intent: str, answered: str | None = None) -> None:
    """Keep the question for staff (bot.models.UnansweredQuestion), in the message's transaction.

    `answered` is the entry the bot answered with when it was not sure (staff see what the user was told).
    """
    candidates: list[dict[str, object]] = [{"entry_id": c.entry_id, "score": c.score} for c in match.candidates[:3]]
    if answered:
        candidates.insert(0, {"entry_id": answered, "score": match.score, "answered": True})
    await _keep_for_staff(ctx, ctx.text, match.normalized, match.language, intent, candidates)


async def _keep_for_staff(
    ctx: Context, text: str, normalized: str, language: str, intent: str, candidates: list[dict[str, object]]
) -> None:
    await keep_question(
        ctx.session,
        channel=ctx.msg.channel,
        user_id=ctx.msg.user_id,
        text=text,
        normalized=normalized,
        language=language,
        intent=intent,
        candidates=candidates,
        now=ctx.now,
        per_day=ctx.unanswered_per_day,
    )


async def picked_entry(ctx: Context, entry_id: str) -> Outcome:
    """An option the user picked: answered, and after a "did you mean" the question and the pick kept for staff
    (they show which wording the knowledge base lacks)."""
    asked = ctx.conversation.context.get("clarify")
    if asked:
        normalized = ctx.matcher.analyse(asked).normalized
        await _keep_for_staff(
            ctx, asked, normalized, ctx.lang, "clarify_pick", [{"entry_id": entry_id, "picked": True}]
        )
    ctx.conversation.context = {"q": asked or ctx.kb.entries[entry_id].questions.en[0], "entry": entry_id}
    return answer_entry(ctx, entry_id)


async def _act(ctx: Context, intent: Intent) -> Outcome:
    """A message that asks the bot to do something rather than to answer a question."""
    if intent.kind == "status":
        return await show_status(ctx, intent.value)
    ctx.extra["complaint_draft"] = ctx.text  # a grievance told as a story is the complaint's description
    return await complaint_start(ctx)


async def answer_question(ctx: Context) -> Outcome:
    topic = ctx.conversation.context
    reading = ctx.matcher.understand(ctx.text, topic.get("q"), topic.get("entry"))
    if reading.action is not None:
        return await _act(ctx, reading.action)
    matches, asked = reading.matches, reading.asked
    match = matches[0]
    if match.intent == "greeting":
        outcome = welcome(ctx)
    elif match.intent == "closing":
        outcome = ctx.outcome(ctx.t("closing"), intent="closing")
    elif match.intent == "complaint_start":
        outcome = await complaint_start(ctx)
    elif (
        len(matches) > 1
        or match.intent == "answer"
        or (match.intent == "decline" and (match.missing_place or match.alternatives))
    ):
        outcome = _answers(ctx, matches)
        ctx.conversation.context = {"q": asked[:300], "entry": match.entry_id}
    elif match.intent == "clarify":
        options = [Option(entry_label(ctx, c.entry_id), f"kb:{c.entry_id}") for c in match.candidates]
        outcome = ctx.outcome(
            ctx.t("clarify"), [*options, ctx.option("opt_menu", "cmd:menu")], intent="clarify", score=match.score
        )
        ctx.conversation.context = {**ctx.conversation.context, "clarify": ctx.text[:300]}
    else:
        outcome = _declined(ctx, match)
        if match.near_domain or match.entry_id:  # "helpline of KPITB?" then "nobody picks up for days": about it
            ctx.conversation.context = {"q": asked[:300], "entry": match.entry_id}
    if outcome.intent in ("clarify", "out_of_scope", "decline"):
        await log_unanswered(ctx, match, outcome.intent)
    elif match.low_confidence and match.entry_id:
        await log_unanswered(ctx, match, "low_confidence", answered=match.entry_id)
    outcome.detected_language = match.language
    return outcome


def _answers(ctx: Context, matches: list[Match]) -> Outcome:
    """One reply per question answered, in the order asked; the first carries the outcome's entry and score."""
    matches = [m2 for m in matches for m2 in (m, *(replace(m, entry_id=e, also=()) for e in m.also))]
    replies: list[Reply] = []
    seen: set[str] = set()
    first: Outcome | None = None
    for match in matches:
        key = f"{match.entry_id}:{match.facet}"
        if key in seen:
            continue
        seen.add(key)
        if match.intent == "decline" and not match.missing_place:
            outcome = _declined(ctx, match)
        else:
            outcome = answer_entry(ctx, match.entry_id or "", score=match.score)
        if match.alternatives and not match.missing_place:  # a "did you mean"'s other readings, offered beside it
            reply = outcome.replies[0]
            offered = tuple(Option(entry_label(ctx, entry_id), f"kb:{entry_id}") for entry_id in match.alternatives)
            text = f"{reply.text}\n\n{ctx.t('see_also')}"
            outcome.replies[0] = replace(reply, text=text, options=(*reply.options, *offered))
        if match.confirmed:  # "kya Chitral mein bhi park banega?": the word asked for, then the paragraph
            reply = outcome.replies[0]
            outcome.replies[0] = replace(reply, text=f"{ctx.t('yes_confirmed')} {reply.text}")
        if match.missing_place:  # the sources name no park there: say so, then the parks they do name
            place = ctx.kb.places[match.missing_place].name.get(ctx.lang)
            reply = outcome.replies[0]
            outcome.replies[0] = replace(reply, text=f"{ctx.t('no_park_in_place', place=place)}\n{reply.text}")
            outcome.intent = "decline"
        first = first or outcome
        replies.extend(outcome.replies)
    assert first is not None
    first.replies = replies
    if len(matches) > 1 and any(m.intent == "answer" for m in matches):
        first.intent = "answer"  # several questions: the reply answers at least one, and says which it cannot
    return first
