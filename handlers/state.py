"""Per-user state in the database: profile, conversation and the processed-message record.

Rows are created with INSERT ... ON CONFLICT DO NOTHING and then read back (locked FOR UPDATE on
PostgreSQL), so two workers receiving messages from the same person at once neither fail nor interleave.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Conversation, ProcessedMessage, UserProfile, utcnow
from handlers.messages import Incoming


async def insert_ignore(session: AsyncSession, model: type[Any], values: dict[str, Any]) -> None:
    """INSERT that silently does nothing when the primary key already exists."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.exec(insert(model).values(**values).on_conflict_do_nothing())


async def claim_message(session: AsyncSession, msg: Incoming) -> bool:
    """Record the message as handled; False when the same (channel, message id) was handled before.

    Runs inside the caller's transaction: if handling fails, the claim rolls back with it and a
    redelivery is processed afresh.
    """
    try:
        async with session.begin_nested():
            session.add(
                ProcessedMessage(
                    channel=msg.channel,
                    external_id=msg.message_id[:128],
                    user_id=msg.user_id[:128],
                    received_at=msg.received_at,
                )
            )
    except IntegrityError:
        return False
    return True


async def load_profile(session: AsyncSession, msg: Incoming) -> UserProfile:
    key = {"channel": msg.channel, "user_id": msg.user_id[:128]}
    await insert_ignore(session, UserProfile, {**key, "first_seen_at": utcnow(), "last_inbound_at": utcnow()})
    profile = (await session.exec(select(UserProfile).filter_by(**key).with_for_update())).one()
    profile.last_inbound_at = max(profile.last_inbound_at, msg.received_at)
    if msg.display_name:
        profile.display_name = msg.display_name[:256]
    return profile


async def load_conversation(session: AsyncSession, msg: Incoming, now: dt.datetime) -> Conversation:
    """The user's conversation row; an expired flow is dropped here, as if it had been cancelled."""
    key = {"channel": msg.channel, "user_id": msg.user_id[:128]}
    await insert_ignore(session, Conversation, {**key, "data": {}, "options": [], "updated_at": now})
    conversation = (await session.exec(select(Conversation).filter_by(**key).with_for_update())).one()
    if conversation.flow and conversation.expires_at and conversation.expires_at <= now:
        clear_flow(conversation)
    return conversation


def clear_flow(conversation: Conversation) -> None:
    conversation.flow = None
    conversation.step = None
    conversation.data = {}
    conversation.expires_at = None
