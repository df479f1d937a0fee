"""Staff alerts in the database: the events not yet alerted, an alert made once by its key, who receives it, and
what each account sees on the dashboard. The rules (which events, who hears) are in bot/domain/alerts.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Body, Complaint, ComplaintEvent, StaffAlert, StaffAlertRecipient, StaffUser
from bot.storage.inserts import dialect_of, upsert_insert

OPEN_STATUSES = ("received", "in_review")


async def unalerted_events(
    session: AsyncSession, kinds: Iterable[str], since: dt.datetime, limit: int
) -> list[tuple[ComplaintEvent, Complaint]]:
    """Events of `kinds` since `since` that no alert was made for yet, oldest first, with their complaint."""
    query = (
        select(ComplaintEvent, Complaint)
        .join(Complaint, col(Complaint.id) == col(ComplaintEvent.complaint_id))
        .outerjoin(StaffAlert, col(StaffAlert.event_id) == col(ComplaintEvent.id))
        .where(
            col(ComplaintEvent.kind).in_(tuple(kinds)),
            col(ComplaintEvent.created_at) >= since,
            col(StaffAlert.id).is_(None),
        )
        .order_by(col(ComplaintEvent.id))
        .limit(limit)
    )
    return [(event, complaint) for event, complaint in await session.exec(query)]


async def add_alert(session: AsyncSession, **values: object) -> int | None:
    """Insert the alert unless one with its key (or event) exists: the new id, or None when another worker (or an
    earlier round) made it. On PostgreSQL a racing insert waits for the first to commit, then does nothing."""
    statement = (
        upsert_insert(dialect_of(session), StaffAlert.__table__)  # type: ignore[arg-type]
        .values(**values)
        .on_conflict_do_nothing()
        .returning(StaffAlert.__table__.c.id)  # type: ignore[attr-defined]
    )
    return (await session.exec(statement)).scalar()  # type: ignore[call-overload, no-any-return]


async def exists(session: AsyncSession, key: str) -> bool:
    return (await session.exec(select(StaffAlert.id).where(StaffAlert.key == key))).first() is not None


async def recent_unfolded(session: AsyncSession, complaint_id: int, kind: str, since: dt.datetime) -> bool:
    """Whether an alert of `kind` about the complaint went out (not folded) since `since`."""
    query = select(StaffAlert.id).where(
        StaffAlert.complaint_id == complaint_id,
        StaffAlert.kind == kind,
        col(StaffAlert.folded).is_(False),
        col(StaffAlert.created_at) >= since,
    )
    return (await session.exec(query.limit(1))).first() is not None


async def staff(session: AsyncSession, roles: Iterable[str], body_id: str | None = None) -> list[StaffUser]:
    """Active accounts with one of `roles` (of this body, when given), by name."""
    query = select(StaffUser).where(col(StaffUser.active).is_(True), col(StaffUser.role).in_(tuple(roles)))
    if body_id is not None:
        query = query.where(StaffUser.body_id == body_id)
    return list(await session.exec(query.order_by(col(StaffUser.username))))


async def body(session: AsyncSession, body_id: str) -> Body | None:
    return await session.get(Body, body_id)


async def bodies(session: AsyncSession) -> list[Body]:
    return list(await session.exec(select(Body).order_by(col(Body.id))))


async def add_recipients(session: AsyncSession, alert_id: int, usernames: Iterable[str]) -> None:
    session.add_all(StaffAlertRecipient(alert_id=alert_id, username=name) for name in sorted(set(usernames)))
    await session.flush()


async def open_due_by(session: AsyncSession, body_id: str | None, by: dt.datetime) -> list[Complaint]:
    """Open complaints of a body (None: unrouted) due by `by`, soonest due first."""
    query = select(Complaint).where(
        col(Complaint.status).in_(OPEN_STATUSES), col(Complaint.due_at).is_not(None), col(Complaint.due_at) <= by
    )
    query = query.where(col(Complaint.body_id).is_(None) if body_id is None else Complaint.body_id == body_id)
    return list(await session.exec(query.order_by(col(Complaint.due_at), col(Complaint.id))))


async def unread_count(session: AsyncSession, username: str) -> int:
    query = (
        select(func.count())
        .select_from(StaffAlertRecipient)
        .where(StaffAlertRecipient.username == username, col(StaffAlertRecipient.read_at).is_(None))
    )
    return int((await session.exec(query)).one())


async def alerts_of(
    session: AsyncSession, username: str, limit: int
) -> list[tuple[StaffAlert, dt.datetime | None, str | None]]:
    """An account's latest alerts, newest first: the alert, when it was read, and its complaint's reference."""
    query = (
        select(StaffAlert, StaffAlertRecipient.read_at, Complaint.reference)
        .join(StaffAlertRecipient, col(StaffAlertRecipient.alert_id) == col(StaffAlert.id))
        .outerjoin(Complaint, col(Complaint.id) == col(StaffAlert.complaint_id))
        .where(StaffAlertRecipient.username == username)
        .order_by(col(StaffAlert.created_at).desc(), col(StaffAlert.id).desc())
        .limit(limit)
    )
    return [(alert, read_at, reference) for alert, read_at, reference in await session.exec(query)]


async def mark_read(session: AsyncSession, username: str, now: dt.datetime) -> int:
    result = await session.exec(  # type: ignore[call-overload]
        update(StaffAlertRecipient)
        .where(col(StaffAlertRecipient.username) == username, col(StaffAlertRecipient.read_at).is_(None))
        .values(read_at=now)
    )
    return int(result.rowcount or 0)
