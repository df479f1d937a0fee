"""SQLModel tables. Everything that must outlive a process lives here, so any worker can serve any user."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on every backend (SQLite hands back naive values otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _timestamp(**kwargs: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kwargs)


class UserProfile(SQLModel, table=True):
    """One person on one channel: the language they chose and when they last wrote."""

    __tablename__ = "user_profile"

    channel: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=128)
    display_name: str | None = Field(default=None, max_length=256)
    language: str | None = Field(default=None, max_length=8)
    first_seen_at: dt.datetime = _timestamp()
    last_inbound_at: dt.datetime = _timestamp()


class Conversation(SQLModel, table=True):
    """Where a user is in a guided flow, and the options last offered to them."""

    __tablename__ = "conversation"

    channel: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=128)
    flow: str | None = Field(default=None, max_length=64)
    step: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    options: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: dt.datetime = _timestamp()


class ProcessedMessage(SQLModel, table=True):
    """Every handled message once; the unique key turns a redelivery into a no-op."""

    __tablename__ = "processed_message"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_processed_message_channel_external"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=128)
    user_id: str = Field(max_length=128)
    received_at: dt.datetime = _timestamp()
    handled_at: dt.datetime = _timestamp()


class UnansweredQuestion(SQLModel, table=True):
    """A question the bot declined or was unsure about, kept for staff to improve the knowledge base."""

    __tablename__ = "unanswered_question"
    __table_args__ = (Index("ix_unanswered_question_handled_created", "handled", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    text: str = Field(max_length=4000)
    normalized: str = Field(max_length=4000)
    language: str = Field(max_length=8)
    intent: str = Field(max_length=32)
    candidates: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = _timestamp()
    handled: bool = False
