"""What a handler gets: the message, the user's stored state, the knowledge base and the reply language."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.office_hours import OfficeHours
from bot.storage.conversations import ConversationState, Profile, clear_flow
from handlers.messages import Incoming, Option, Outcome, Reply
from knowledge.loader import KnowledgeBase
from knowledge.matcher import Matcher


@dataclass
class Context:
    msg: Incoming
    session: AsyncSession  # the message's transaction: whatever a handler writes commits with the message
    profile: Profile
    conversation: ConversationState
    kb: KnowledgeBase
    matcher: Matcher
    lang: str
    now: dt.datetime
    flow_timeout: dt.timedelta
    text: str = ""
    payload: str | None = None
    log_days: int = 30
    unanswered_per_day: int = 20  # questions one chat identity may leave for staff a day (UNANSWERED_PER_DAY)
    pseudonym_key: str = ""  # keys an erased citizen's stand-in id (SECRET_KEY)
    office_hours: OfficeHours | None = None  # when staff answer (None: at any time)
    verdict_days: int = 7  # how long a resolved complaint waits for the citizen's "Was it solved?" (VERDICT_DAYS)
    extra: dict[str, Any] = field(default_factory=dict)

    def t(self, key: str, **values: object) -> str:
        """A user-facing sentence in the reply language."""
        return self.kb.texts(key, self.lang, **values)

    def outcome(self, text: str, options: list[Option] | tuple[Option, ...] = (), **meta: Any) -> Outcome:
        return Outcome(replies=[Reply(text, tuple(options))], language=self.lang, **meta)

    def outcomes(self, replies: list[Reply], **meta: Any) -> Outcome:
        """Several messages in a row (channels send them one after another)."""
        return Outcome(replies=replies, language=self.lang, **meta)

    def enter(self, flow: str, step: str, data: dict[str, Any] | None = None) -> None:
        """Move the user to `step` of `flow`; the flow lapses after the configured idle time."""
        self.conversation.flow = flow
        self.conversation.step = step
        self.conversation.data = dict(data if data is not None else self.conversation.data)
        self.conversation.expires_at = self.now + self.flow_timeout

    def leave(self) -> None:
        clear_flow(self.conversation)

    def option(self, key: str, payload: str) -> Option:
        return Option(self.t(key), payload)

    def choose_language(self, lang: str) -> None:
        """The user picked a language: it is kept until they pick another, whatever they write in."""
        self.profile.language = lang
        self.profile.language_chosen = True
        self.lang = lang
