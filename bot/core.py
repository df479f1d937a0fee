"""Wiring: settings -> database, knowledge base, matcher and dispatcher, built once per process."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.db import Database
from bot.domain.office_hours import OfficeHours
from bot.settings import Settings
from handlers.dispatcher import Dispatcher
from knowledge.loader import KnowledgeBase, load_knowledge
from knowledge.matcher import Matcher

if TYPE_CHECKING:
    from bot.channels.base import Channel


@dataclass
class Core:
    settings: Settings
    db: Database
    kb: KnowledgeBase
    matcher: Matcher
    dispatcher: Dispatcher
    channels: dict[str, Channel] = field(default_factory=dict)  # filled in by the app or the worker

    async def close(self) -> None:
        await self.db.dispose()


def load_kb(settings: Settings) -> tuple[KnowledgeBase, Matcher]:
    """Load and check the knowledge base; raises KnowledgeError naming file and entry on a bad one."""
    kb = load_knowledge(settings.knowledge_dir, settings.sources_dir)
    return kb, Matcher(kb)


def office_hours(settings: Settings) -> OfficeHours:
    return OfficeHours.configured(settings.office_days, settings.office_hours, settings.knowledge_dir)


def build_core(
    settings: Settings, database_url: str | None = None, knowledge: tuple[KnowledgeBase, Matcher] | None = None
) -> Core:
    """Everything a process needs; pass `knowledge` when it was already loaded (checked) by the caller."""
    kb, matcher = knowledge or load_kb(settings)
    db = Database(database_url or settings.database_url, pool_size=settings.database_pool_size)
    return core_on(settings, db, kb, matcher)


def core_on(settings: Settings, db: Database, kb: KnowledgeBase, matcher: Matcher) -> Core:
    """The core over a database the caller already holds (the CLI's commands open their own)."""
    dispatcher = Dispatcher(
        db,
        kb,
        matcher,
        flow_timeout=dt.timedelta(minutes=settings.flow_timeout_minutes),
        max_chars=settings.max_message_chars,
        rate_limit=(settings.rate_limit_messages, dt.timedelta(seconds=settings.rate_limit_window_seconds)),
        log_days=settings.message_log_days,
        reply_window=dt.timedelta(hours=settings.case_reply_window_hours),
        unanswered_per_day=settings.unanswered_per_day,
        pseudonym_key=settings.secret_key,
        office_hours=office_hours(settings),
        verdict_days=settings.verdict_days,
    )
    return Core(settings=settings, db=db, kb=kb, matcher=matcher, dispatcher=dispatcher)
