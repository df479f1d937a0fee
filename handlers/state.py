"""Per-user state in the database: profile, conversation and the processed-message record.

Rows are created with INSERT ... ON CONFLICT DO NOTHING and then read back (locked FOR UPDATE on
PostgreSQL), so two workers receiving messages from the same person at once neither fail nor interleave.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import bindparam, case, false, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Conversation, ProcessedMessage, UserProfile, UTCDateTime, utcnow
from handlers.messages import Incoming

PROFILE_FIELDS = ("display_name", "language", "rate_notified")
CONVERSATION_FIELDS = ("flow", "step", "data", "options", "expires_at")


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind else "sqlite"


def _insert(dialect: str) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL spell it the same)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


async def _execute(session: AsyncSession, statement: Any, parameters: dict[str, Any]) -> Any:
    """Run a prepared Core statement on the session's connection (inside its transaction).

    These statements run on every message, so they are built once (below) and skip the ORM's unit of work:
    building and tracking cost more CPU than the database round trip itself.
    """
    connection = await session.connection()
    return await connection.execute(statement, parameters)


@cache
def _claim_statement(dialect: str) -> Any:
    return (
        _insert(dialect)(ProcessedMessage)
        .values(
            channel=bindparam("channel"),
            external_id=bindparam("external_id"),
            user_id=bindparam("user_id"),
            received_at=bindparam("received_at", type_=UTCDateTime()),
            handled_at=bindparam("handled_at", type_=UTCDateTime()),
        )
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
        .returning(ProcessedMessage.id)
    )


@cache
def _profile_statement(dialect: str) -> Any:
    """Upsert the profile, counting the message against the rate-limit window, and return the row."""
    profiles = UserProfile.__table__
    now = bindparam("now", type_=UTCDateTime())
    insert = _insert(dialect)(UserProfile).values(
        channel=bindparam("channel"),
        user_id=bindparam("user_id"),
        display_name=bindparam("display_name"),
        first_seen_at=now,
        last_inbound_at=bindparam("received_at", type_=UTCDateTime()),
        rate_window_start=now,
        rate_count=1,
        rate_notified=False,
    )
    new_window = or_(
        profiles.c.rate_window_start.is_(None),
        profiles.c.rate_window_start <= bindparam("window_opened_before", type_=UTCDateTime()),
    )
    return insert.on_conflict_do_update(
        index_elements=["channel", "user_id"],
        set_={
            "last_inbound_at": insert.excluded.last_inbound_at,
            "display_name": func.coalesce(insert.excluded.display_name, profiles.c.display_name),
            "rate_count": case((new_window, 1), else_=profiles.c.rate_count + 1),
            "rate_window_start": case((new_window, now), else_=profiles.c.rate_window_start),
            "rate_notified": case((new_window, false()), else_=profiles.c.rate_notified),
        },
    ).returning(*profiles.c)


@cache
def _conversation_statement(dialect: str) -> Any:
    """Create the conversation row or touch it (which locks it on PostgreSQL), and return it."""
    insert = _insert(dialect)(Conversation).values(
        channel=bindparam("channel"),
        user_id=bindparam("user_id"),
        data={},
        options=[],
        updated_at=bindparam("now", type_=UTCDateTime()),
    )
    return insert.on_conflict_do_update(
        index_elements=["channel", "user_id"], set_={"updated_at": insert.excluded.updated_at}
    ).returning(*Conversation.__table__.c)


@cache
def _update_statement(model: type[Any], fields: tuple[str, ...]) -> Any:
    table = model.__table__
    return (
        update(table)
        .where(table.c.channel == bindparam("key_channel"), table.c.user_id == bindparam("key_user_id"))
        .values({name: bindparam(name, type_=table.c[name].type) for name in fields})
    )


async def claim_message(session: AsyncSession, msg: Incoming) -> bool:
    """Record the message as handled; False when the same (channel, message id) was handled before.

    One INSERT ... ON CONFLICT DO NOTHING RETURNING: on PostgreSQL a concurrent claim of the same message waits
    for the first transaction and then sees the conflict. It runs inside the caller's transaction, so if handling
    fails the claim rolls back with it and a redelivery is processed afresh.
    """
    parameters = {
        "channel": msg.channel,
        "external_id": msg.message_id[:128],
        "user_id": msg.user_id[:128],
        "received_at": msg.received_at,
        "handled_at": utcnow(),
    }
    return (await _execute(session, _claim_statement(_dialect(session)), parameters)).first() is not None


@dataclass
class State:
    """The user's profile and conversation as loaded, and what they were, so only changes are written."""

    profile: UserProfile
    conversation: Conversation
    loaded: dict[str, Any] = field(default_factory=dict)


def _snapshot(profile: UserProfile, conversation: Conversation) -> dict[str, Any]:
    values = {f"p.{name}": getattr(profile, name) for name in PROFILE_FIELDS}
    values.update({f"c.{name}": getattr(conversation, name) for name in CONVERSATION_FIELDS})
    return copy.deepcopy(values)


async def load_state(session: AsyncSession, msg: Incoming, now: dt.datetime, window: dt.timedelta) -> State:
    """Create or refresh the profile and conversation rows, each in one upsert that also locks the row.

    The profile upsert also counts the message against the rate-limit window.
    """
    dialect = _dialect(session)
    key = {"channel": msg.channel, "user_id": msg.user_id[:128]}
    row = await _execute(
        session,
        _profile_statement(dialect),
        {
            **key,
            "display_name": msg.display_name[:256] if msg.display_name else None,
            "now": now,
            "received_at": msg.received_at,
            "window_opened_before": now - window,
        },
    )
    profile = UserProfile(**row.one()._mapping)
    row = await _execute(session, _conversation_statement(dialect), {**key, "now": now})
    conversation = Conversation(**row.one()._mapping)
    state = State(profile, conversation, _snapshot(profile, conversation))
    if conversation.flow and conversation.expires_at and conversation.expires_at <= now:
        clear_flow(conversation)
    return state


async def save_state(session: AsyncSession, state: State) -> None:
    """Write back what the message changed (most messages change nothing beyond the upserts)."""
    current = _snapshot(state.profile, state.conversation)
    for prefix, model, row in (("p.", UserProfile, state.profile), ("c.", Conversation, state.conversation)):
        changed = {k[2:]: v for k, v in current.items() if k.startswith(prefix) and v != state.loaded[k]}
        if changed:
            statement = _update_statement(model, tuple(sorted(changed)))
            await _execute(session, statement, {"key_channel": row.channel, "key_user_id": row.user_id, **changed})
    state.loaded = current


def clear_flow(conversation: Conversation) -> None:
    conversation.flow = None
    conversation.step = None
    conversation.data = {}
    conversation.expires_at = None
