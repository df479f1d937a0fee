"""Answering free-text questions from the knowledge base, and saying so when the sources are silent."""

from __future__ import annotations

from dataclasses import replace

from handlers.commands import complaint_start, entry_label, welcome
from handlers.context import Context
from handlers.flows.base import menu_options
from handlers.messages import Option, Outcome
from knowledge.matcher import Match


def answer_entry(ctx: Context, entry_id: str, *, intent: str = "answer", score: float | None = None) -> Outcome:
    """An entry's answer with its source line; declining entries also offer the menu and a complaint."""
    entry = ctx.kb.entries[entry_id]
    options = _fallback_options(ctx) if entry.declines else []
    return ctx.outcome(ctx.kb.answer(entry_id, ctx.lang), options, intent=intent, entry_id=entry_id, score=score)


def _fallback_options(ctx: Context) -> list[Option]:
    return [ctx.option("opt_menu", "cmd:menu"), ctx.option("opt_complaint", "complaint:start")]


def _declined(ctx: Context, match: Match) -> Outcome:
    if match.entry_id:  # an entry written to say what the sources do not cover
        return answer_entry(ctx, match.entry_id, intent="out_of_scope", score=match.score)
    options = _fallback_options(ctx)
    if match.facet:
        text = ctx.t("no_info_facet", facet=ctx.t(f"facet_{match.facet}"))
        if match.candidates and match.candidates[0].score >= 0.5:
            top = match.candidates[0].entry_id
            options.insert(0, Option(ctx.t("see_also", title=entry_label(ctx, top)), f"kb:{top}"))
    elif match.near_domain:
        text = ctx.t("no_info")
    else:
        text = ctx.t("out_of_scope")
        options = menu_options(ctx)
    return ctx.outcome(text, options, intent="out_of_scope", score=match.score)


LOG_UNANSWERED = """
INSERT INTO unanswered_question (channel, text, normalized, language, intent, candidates, created_at, handled)
VALUES (:channel, :text, :normalized, :language, :intent, :candidates, :created_at, :false)"""


def log_unanswered(ctx: Context, match: Match, intent: str) -> None:
    """Keep the question for staff (bot.models.UnansweredQuestion), as plain SQL in the message's transaction."""
    codec = ctx.unit.codec
    candidates = [{"entry_id": c.entry_id, "score": c.score} for c in match.candidates[:3]]
    values = {
        "channel": ctx.msg.channel,
        "text": ctx.text[:4000],
        "normalized": match.normalized[:4000],
        "language": match.language,
        "intent": intent,
        "candidates": codec.json_in(candidates),
        "created_at": codec.time_in(ctx.now),
        "false": codec.false,
    }
    ctx.unit.later(LOG_UNANSWERED, values)


async def answer_question(ctx: Context) -> Outcome:
    match = ctx.matcher.match(ctx.text)
    if match.intent == "greeting":
        outcome = welcome(ctx)
    elif match.intent == "complaint_start":
        outcome = await complaint_start(ctx)
    elif match.intent == "answer" and match.entry_id:
        outcome = answer_entry(ctx, match.entry_id, score=match.score)
        if match.missing_place:
            place = ctx.kb.places[match.missing_place].name.get(ctx.lang)
            reply = outcome.replies[0]
            outcome.replies[0] = replace(reply, text=f"{ctx.t('no_park_in_place', place=place)}\n{reply.text}")
    elif match.intent == "clarify":
        options = [Option(entry_label(ctx, c.entry_id), f"kb:{c.entry_id}") for c in match.candidates]
        outcome = ctx.outcome(
            ctx.t("clarify"), [*options, ctx.option("opt_menu", "cmd:menu")], intent="clarify", score=match.score
        )
    else:
        outcome = _declined(ctx, match)
    if outcome.intent in ("clarify", "out_of_scope"):
        log_unanswered(ctx, match, outcome.intent)
    outcome.detected_language = match.language
    return outcome
