"""Per-user state in the database: the processed-message claim, the profile and the conversation.

Every message runs these statements, so they are written as SQL once and run on the driver inside the
message's transaction (`bot.transactions.Unit`), skipping the ORM and SQLAlchemy's per-statement machinery
(which cost several times the database's own work).

The profile and conversation rows are created with INSERT ... ON CONFLICT DO UPDATE, which also locks them on
PostgreSQL, so two workers receiving messages from the same person at once neither fail nor interleave. On
PostgreSQL the claim and both upserts are one statement (one round trip); on SQLite statements run in-process.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from bot.models import utcnow
from bot.transactions import Codec, Unit
from handlers.messages import Incoming


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


@dataclass(slots=True)
class State:
    """The user's profile and conversation as loaded, and what they were, so only changes are written."""

    profile: Profile
    conversation: ConversationState
    loaded: tuple[Any, ...] = ()


PROFILE_COLUMNS = ("display_name", "language", "rate_count", "rate_notified", "language_chosen")
CONVERSATION_COLUMNS = ("flow", "step", "data", "options", "expires_at", "context")
SAVED_PROFILE = ("language", "rate_notified", "language_chosen")

CLAIM = """
INSERT INTO processed_message (channel, external_id, user_id, received_at, handled_at)
VALUES (:channel, :external_id, :user_id, :received_at, :handled_at)
ON CONFLICT (channel, external_id) DO NOTHING
RETURNING id"""

_NEW_WINDOW = "(user_profile.rate_window_start IS NULL OR user_profile.rate_window_start <= :window_opened_before)"
PROFILE_UPSERT = f"""
INSERT INTO user_profile (channel, user_id, display_name, language, first_seen_at, last_inbound_at,
                          rate_window_start, rate_count, rate_notified, language_chosen)
{{source}}
ON CONFLICT (channel, user_id) DO UPDATE SET
    last_inbound_at = excluded.last_inbound_at,
    display_name = coalesce(excluded.display_name, user_profile.display_name),
    rate_count = CASE WHEN {_NEW_WINDOW} THEN 1 ELSE user_profile.rate_count + 1 END,
    rate_window_start = CASE WHEN {_NEW_WINDOW} THEN :now ELSE user_profile.rate_window_start END,
    rate_notified = CASE WHEN {_NEW_WINDOW} THEN :false ELSE user_profile.rate_notified END
RETURNING {", ".join(PROFILE_COLUMNS)}"""
PROFILE_VALUES = ":channel, :user_id, :display_name, NULL, :now, :received_at, :now, 1, :false, :false"

CONVERSATION_UPSERT = f"""
INSERT INTO conversation (channel, user_id, flow, step, data, options, expires_at, updated_at, context)
{{source}}
ON CONFLICT (channel, user_id) DO UPDATE SET updated_at = excluded.updated_at
RETURNING {", ".join(CONVERSATION_COLUMNS)}"""
CONVERSATION_VALUES = ":channel, :user_id, NULL, NULL, :empty_data, :empty_options, NULL, :now, :empty_data"

SQLITE_PROFILE_UPSERT = PROFILE_UPSERT.format(source=f"VALUES ({PROFILE_VALUES})")
SQLITE_CONVERSATION_UPSERT = CONVERSATION_UPSERT.format(source=f"VALUES ({CONVERSATION_VALUES})")

# PostgreSQL: the claim gates both upserts, so a duplicate message returns no row and changes nothing. The casts
# give the parameters their column types (a bare parameter in a SELECT list would be text).
PG_PROFILE_VALUES = (
    "CAST(:channel AS VARCHAR), CAST(:user_id AS VARCHAR), CAST(:display_name AS VARCHAR), "
    "CAST(NULL AS VARCHAR), CAST(:now AS TIMESTAMPTZ), CAST(:received_at AS TIMESTAMPTZ), "
    "CAST(:now AS TIMESTAMPTZ), 1, CAST(:false AS BOOLEAN), CAST(:false AS BOOLEAN)"
)
PG_CONVERSATION_VALUES = (
    "CAST(:channel AS VARCHAR), CAST(:user_id AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), "
    "CAST(:empty_data AS JSON), CAST(:empty_options AS JSON), CAST(NULL AS TIMESTAMPTZ), CAST(:now AS TIMESTAMPTZ), "
    "CAST(:empty_data AS JSON)"
)
CLAIMED = "WHERE EXISTS (SELECT FROM claim)"
CLAIM_AND_LOAD = f"""
WITH claim AS ({CLAIM}),
profile AS ({PROFILE_UPSERT.format(source=f"SELECT {PG_PROFILE_VALUES} {CLAIMED}")}),
conversation AS ({CONVERSATION_UPSERT.format(source=f"SELECT {PG_CONVERSATION_VALUES} {CLAIMED}")})
SELECT profile.*, conversation.* FROM profile CROSS JOIN conversation"""


async def claim_and_load(unit: Unit, msg: Incoming, now: dt.datetime, window: dt.timedelta) -> State | None:
    """Record the message as handled and load (creating or refreshing) the user's profile and conversation.

    Returns None when the same (channel, message id) was handled before: the claim is an INSERT ... ON CONFLICT
    DO NOTHING, and on PostgreSQL a concurrent claim of the same message waits for the first transaction and
    then sees the conflict. It runs inside the caller's transaction, so if handling fails the claim rolls back
    with it and a redelivery is processed afresh. The profile upsert also counts the message against the
    rate-limit window.
    """
    codec = unit.codec
    values = {
        "channel": msg.channel,
        "external_id": msg.message_id[:128],
        "user_id": msg.user_id[:128],
        "display_name": msg.display_name[:256] if msg.display_name else None,
        "received_at": codec.time_in(msg.received_at),
        "handled_at": codec.time_in(utcnow()),
        "now": codec.time_in(now),
        "window_opened_before": codec.time_in(now - window),
        "empty_data": codec.json_in({}),
        "empty_options": codec.json_in([]),
        "false": codec.false,
    }
    if unit.connection.dialect.name != "sqlite":
        found = await unit.rows(CLAIM_AND_LOAD, values)
        return _state(msg, codec, found[0], now) if found else None
    if not await unit.rows(CLAIM, values):
        return None
    (profile_row,) = await unit.rows(SQLITE_PROFILE_UPSERT, values)
    (conversation_row,) = await unit.rows(SQLITE_CONVERSATION_UPSERT, values)
    return _state(msg, codec, (*profile_row, *conversation_row), now)


def _state(msg: Incoming, codec: Codec, row: tuple[Any, ...], now: dt.datetime) -> State:
    display_name, language, rate_count, rate_notified, chosen, flow, step, data, options, expires_at, context = row
    profile = Profile(
        msg.channel, msg.user_id[:128], display_name, language, int(rate_count), bool(rate_notified), bool(chosen)
    )
    conversation = ConversationState(
        msg.channel,
        msg.user_id[:128],
        flow,
        step,
        codec.json_out(data) or {},
        codec.json_out(options) or [],
        codec.time_out(expires_at),
        codec.json_out(context) or {},
    )
    state = State(profile, conversation)
    state.loaded = _snapshot(state)
    if conversation.flow and conversation.expires_at and conversation.expires_at <= now:
        clear_flow(conversation)
    return state


def _snapshot(state: State) -> tuple[Any, ...]:
    """The saved fields, JSON ones serialised (a cheap deep copy that compares by value)."""
    profile, conversation = state.profile, state.conversation
    return (
        profile.language,
        profile.rate_notified,
        profile.language_chosen,
        conversation.flow,
        conversation.step,
        json.dumps(conversation.data, sort_keys=True),
        json.dumps(conversation.options, sort_keys=True),
        conversation.expires_at,
        json.dumps(conversation.context, sort_keys=True),
    )


@cache
def _update_sql(table: str, columns: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{column} = :{column}" for column in columns)
    return f"UPDATE {table} SET {assignments} WHERE channel = :key_channel AND user_id = :key_user_id"


def save_state(unit: Unit, state: State) -> None:
    """Write back what the message changed (most messages change nothing beyond the upserts)."""
    current = _snapshot(state)
    if current == state.loaded:
        return
    codec = unit.codec
    convert = {
        "data": codec.json_in,
        "options": codec.json_in,
        "context": codec.json_in,
        "expires_at": codec.time_in,
        "rate_notified": codec.boolean_in,
        "language_chosen": codec.boolean_in,
    }
    profile, conversation = state.profile, state.conversation
    names = SAVED_PROFILE + CONVERSATION_COLUMNS
    changed = {name for name, old, new in zip(names, state.loaded, current, strict=True) if old != new}
    for table, columns, row in (
        ("user_profile", tuple(c for c in SAVED_PROFILE if c in changed), profile),
        ("conversation", tuple(c for c in CONVERSATION_COLUMNS if c in changed), conversation),
    ):
        if not columns:
            continue
        values: dict[str, Any] = {"key_channel": row.channel, "key_user_id": row.user_id}
        for column in columns:
            value = getattr(row, column)
            values[column] = convert[column](value) if column in convert else value
        unit.later(_update_sql(table, columns), values)
    state.loaded = current


def clear_flow(conversation: ConversationState) -> None:
    conversation.flow = None
    conversation.step = None
    conversation.data = {}
    conversation.expires_at = None
