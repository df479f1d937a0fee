"""Per-user state inside a message's transaction: the message claim, the profile and the conversation.

Three statements start every message: claim its id (INSERT ... ON CONFLICT DO NOTHING), then create or refresh the
user's profile and conversation (INSERT ... ON CONFLICT DO UPDATE ... RETURNING). On PostgreSQL the upserts also
lock both rows, so two processes receiving messages from the same person at once neither fail nor interleave; a
concurrent claim of the same message waits for the first transaction and then sees the conflict.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from sqlalchemy import Executable, Table, bindparam, case, delete, func, literal, or_, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Conversation, ProcessedMessage, UserProfile, UTCDateTime, utcnow
from bot.storage.inserts import dialect_of, upsert_insert

KEY_CHARS = 128
NAME_CHARS = 256


@dataclass(slots=True)
class Profile:
    """What handlers read and change of the user's profile (the row has more: see bot.models.UserProfile)."""

    channel: str
    user_id: str
    display_name: str | None
    language: str | None
    rate_count: int
    rate_notified: bool
    language_chosen: bool = False


@dataclass(slots=True)
class ConversationState:
    """Where the user is in a flow, what the flow has gathered, and the options last offered."""

    channel: str
    user_id: str
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    options: list[dict[str, str]] = field(default_factory=list)
    expires_at: dt.datetime | None = None
    context: dict[str, Any] = field(default_factory=dict)  # the last question's topic, for follow-ups


SAVED_PROFILE = ("language", "rate_notified", "language_chosen")
SAVED_CONVERSATION = ("flow", "step", "data", "options", "expires_at", "context")


@dataclass(slots=True)
class State:
    """The user's profile and conversation as loaded, and a copy of what they were, so only changes are written."""

    profile: Profile
    conversation: ConversationState
    loaded: dict[str, dict[str, Any]] = field(default_factory=dict)

    def saved_fields(self) -> dict[str, dict[str, Any]]:
        """The fields a message may change, per table (deep copies: a flow edits `data` in place)."""
        return {
            "user_profile": {name: copy.deepcopy(getattr(self.profile, name)) for name in SAVED_PROFILE},
            "conversation": {name: copy.deepcopy(getattr(self.conversation, name)) for name in SAVED_CONVERSATION},
        }


@cache
def _claim(dialect: str) -> Executable:
    table = ProcessedMessage.__table__
    return (
        upsert_insert(dialect, table)
        .values(
            channel=bindparam("channel"),
            external_id=bindparam("external_id"),
            user_id=bindparam("user_id"),
            received_at=bindparam("received_at", type_=UTCDateTime),
            handled_at=bindparam("handled_at", type_=UTCDateTime),
        )
        .on_conflict_do_nothing(index_elements=[table.c.channel, table.c.external_id])
        .returning(table.c.id)
    )


async def claim_message(
    session: AsyncSession, channel: str, message_id: str, user_id: str, received_at: dt.datetime
) -> bool:
    """Record the message as handled; False when the same (channel, message id) was handled before.

    It runs in the caller's transaction: if handling fails the claim rolls back with it and a redelivery is
    processed afresh.
    """
    values = {
        "channel": channel,
        "external_id": message_id[:KEY_CHARS],
        "user_id": user_id[:KEY_CHARS],
        "received_at": received_at,
        "handled_at": utcnow(),
    }
    return (await session.exec(_claim(dialect_of(session)), params=values)).first() is not None


async def load_state(
    session: AsyncSession,
    channel: str,
    user_id: str,
    display_name: str | None,
    received_at: dt.datetime,
    now: dt.datetime,
    window: dt.timedelta,
) -> State:
    """Create or refresh the user's profile and conversation, counting this message against the rate-limit
    window, and return them (a flow idle past its expiry is cleared)."""
    user_id = user_id[:KEY_CHARS]
    dialect = dialect_of(session)
    profile_values = {
        "channel": channel,
        "user_id": user_id,
        "display_name": display_name[:NAME_CHARS] if display_name else None,
        "received_at": received_at,
        "now": now,
        "window_opened_before": now - window,
    }
    profile_row = (await session.exec(_upsert_profile(dialect), params=profile_values)).mappings().one()
    conversation_values = {"channel": channel, "user_id": user_id, "now": now}
    found = (await session.exec(_upsert_conversation(dialect), params=conversation_values)).mappings().one()
    conversation_row = {**found, "data": found["data"] or {}, "options": found["options"] or []}
    conversation_row["context"] = found["context"] or {}
    profile = Profile(channel, user_id, **profile_row)
    conversation = ConversationState(channel, user_id, **conversation_row)
    state = State(profile, conversation)
    state.loaded = state.saved_fields()
    if conversation.flow and conversation.expires_at and conversation.expires_at <= now:
        clear_flow(conversation)
    return state


@cache
def _upsert_profile(dialect: str) -> Executable:
    table = UserProfile.__table__
    now = bindparam("now", type_=UTCDateTime)
    insert = upsert_insert(dialect, table).values(
        channel=bindparam("channel"),
        user_id=bindparam("user_id"),
        display_name=bindparam("display_name"),
        language=None,
        first_seen_at=now,
        last_inbound_at=bindparam("received_at", type_=UTCDateTime),
        rate_window_start=now,
        rate_count=1,
        rate_notified=False,
        language_chosen=False,
    )
    window_start = table.c.rate_window_start
    opened_before = bindparam("window_opened_before", type_=UTCDateTime)
    new_window = or_(window_start.is_(None), window_start <= opened_before)
    return insert.on_conflict_do_update(
        index_elements=[table.c.channel, table.c.user_id],
        set_={
            "last_inbound_at": insert.excluded.last_inbound_at,
            "display_name": func.coalesce(insert.excluded.display_name, table.c.display_name),
            "rate_count": case((new_window, 1), else_=table.c.rate_count + 1),
            "rate_window_start": case((new_window, now), else_=window_start),
            "rate_notified": case((new_window, literal(False)), else_=table.c.rate_notified),
        },
    ).returning(*(table.c[f.name] for f in fields(Profile) if f.name not in ("channel", "user_id")))


@cache
def _upsert_conversation(dialect: str) -> Executable:
    table = Conversation.__table__
    insert = upsert_insert(dialect, table).values(
        channel=bindparam("channel"),
        user_id=bindparam("user_id"),
        data={},
        options=[],
        context={},
        updated_at=bindparam("now", type_=UTCDateTime),
    )
    return insert.on_conflict_do_update(
        index_elements=[table.c.channel, table.c.user_id], set_={"updated_at": insert.excluded.updated_at}
    ).returning(*(table.c[name] for name in SAVED_CONVERSATION))


@cache
def _update(table: Table, columns: tuple[str, ...]) -> Executable:
    """UPDATE of `columns` of one user's row; parameters are the columns' names and key_channel, key_user_id."""
    return (
        update(table)
        .where(table.c.channel == bindparam("key_channel"), table.c.user_id == bindparam("key_user_id"))
        .values({name: bindparam(name, type_=table.c[name].type) for name in columns})
    )


async def save_state(session: AsyncSession, state: State) -> None:
    """Write back what the message changed (most messages change nothing beyond the upserts)."""
    current = state.saved_fields()
    for name, model, row in (
        ("user_profile", UserProfile, state.profile),
        ("conversation", Conversation, state.conversation),
    ):
        changed = {key: value for key, value in current[name].items() if state.loaded.get(name, {}).get(key) != value}
        if not changed:
            continue
        statement = _update(model.__table__, tuple(sorted(changed)))
        await session.exec(statement, params={**changed, "key_channel": row.channel, "key_user_id": row.user_id})
    state.loaded = current


async def profile_language(session: AsyncSession, channel: str, user_id: str) -> str | None:
    """The language stored for a user, if any (without creating their profile)."""
    table = UserProfile.__table__
    found = await session.exec(
        table.select()
        .with_only_columns(table.c.language)
        .where(table.c.channel == channel, table.c.user_id == user_id[:KEY_CHARS])
    )
    return found.scalar_one_or_none()


def clear_flow(conversation: ConversationState) -> None:
    conversation.flow = None
    conversation.step = None
    conversation.data = {}
    conversation.expires_at = None


async def unclaim_message(session: AsyncSession, channel: str, message_id: str) -> None:
    """Forget that a message was handled, so it can be handled again (a dead letter's retry)."""
    table = ProcessedMessage.__table__
    await session.exec(delete(table).where(table.c.channel == channel, table.c.external_id == message_id[:KEY_CHARS]))
