"""Which body acts on a complaint: rules by category and place, the defaults copied in, and admins' changes.

The most specific rule wins (district, then province, then anywhere). A complaint no rule matches is filed all the
same, with no body: it waits in the Unrouted queue until an admin routes it, and is never dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import Database
from bot.domain.routing_data import RoutingData
from bot.models import Body, Complaint, ComplaintEvent, RoutingRule, utcnow
from bot.storage import routing as stored

log = logging.getLogger(__name__)
BODY_ID = re.compile(r"^[a-z0-9_]{1,32}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_REASON_CHARS = 2000


class RoutingError(ValueError):
    """A routing change that cannot be made; the message says why, for the admin to read."""


def match(rules: Iterable[RoutingRule], category: str, province: str | None, district: str | None) -> str | None:
    """The body of the most specific rule for this category and place, or None."""
    best: tuple[int, str] | None = None
    for rule in rules:
        if rule.category != category:
            continue
        if rule.district is not None:
            if rule.district != district:
                continue
            rank = 3
        elif rule.province is not None:
            if rule.province != province:
                continue
            rank = 2
        else:
            rank = 1
        if best is None or rank > best[0]:
            best = (rank, rule.body_id)
    return best[1] if best else None


async def route(session: AsyncSession, category: str, province: str | None, district: str | None) -> str | None:
    return match(await stored.rules(session, category), category, province, district)


async def seed_defaults(session: AsyncSession, data: RoutingData) -> bool:
    """Copy routing.yaml's bodies and rules in when the database has no body yet (first start); True if it did."""
    if await stored.any_body(session):
        return False
    for default in data.bodies:
        session.add(
            Body(
                id=default.id,
                name_en=default.name.en,
                name_ur=default.name.ur,
                province=default.province,
                email=default.email,
            )
        )
    await session.flush()
    for rule in data.rules:
        session.add(
            RoutingRule(category=rule.category, province=rule.province, district=rule.district, body_id=rule.body)
        )
    await session.flush()
    return True


def _clean(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


async def add_body(
    session: AsyncSession, body_id: str, name_en: str, name_ur: str, province: str | None, email: str | None
) -> Body:
    body_id = body_id.strip().lower()
    if not BODY_ID.match(body_id):
        raise RoutingError("the body's code must be 1-32 lower-case letters, digits or _ (e.g. sindh_itb)")
    if not name_en.strip() or not name_ur.strip():
        raise RoutingError("the body needs a name in English and in Urdu")
    email = _clean(email)
    if email and not EMAIL.match(email):
        raise RoutingError(f"{email!r} is not an e-mail address")
    if await stored.body(session, body_id) is not None:
        raise RoutingError(f"a body with the code {body_id!r} exists already")
    body = Body(id=body_id, name_en=name_en.strip()[:200], name_ur=name_ur.strip()[:200], province=_clean(province))
    body.email = email
    session.add(body)
    await session.flush()
    return body


async def add_rule(
    session: AsyncSession,
    category: str,
    province: str | None,
    district: str | None,
    body_id: str,
    *,
    categories: Iterable[str],
) -> RoutingRule:
    """A rule for a known category; one per category and place (change one by deleting it and adding another)."""
    province, district = _clean(province), _clean(district)
    if category not in set(categories):
        raise RoutingError(f"unknown category {category!r}")
    if await stored.body(session, body_id) is None:
        raise RoutingError(f"unknown body {body_id!r}")
    for rule in await stored.rules(session, category):
        if (rule.province, rule.district) == (province, district):
            raise RoutingError(f"a rule for {category} in {district or province or 'anywhere'} exists already")
    rule = RoutingRule(category=category, province=province, district=district, body_id=body_id)
    session.add(rule)
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, rule_id: int) -> None:
    rule = await stored.rule(session, rule_id)
    if rule is None:
        raise RoutingError("no such rule")
    await session.delete(rule)


async def delete_body(session: AsyncSession, body_id: str) -> None:
    """Refused while a complaint or a staff account belongs to it: their history would point nowhere."""
    if await stored.body(session, body_id) is None:
        raise RoutingError(f"unknown body {body_id!r}")
    count = await stored.complaints_of(session, body_id)
    if count:
        raise RoutingError(
            f"{body_id} has {count} complaint{'s' if count != 1 else ''}: re-route them first; a body with "
            "complaints cannot be deleted"
        )
    if await stored.accounts_of(session, body_id):
        raise RoutingError(f"{body_id} has staff accounts: move them to another body first")
    await stored.remove_body(session, body_id)


async def reroute(
    session: AsyncSession,
    complaint: Complaint,
    body_id: str,
    *,
    reason: str,
    actor: str,
    now: dt.datetime | None = None,
) -> ComplaintEvent:
    """An admin sends a complaint to another body; the reason is kept in its history (staff only)."""
    reason = reason.strip()[:MAX_REASON_CHARS]
    if not reason:
        raise RoutingError("re-routing needs a reason")
    if await stored.body(session, body_id) is None:
        raise RoutingError(f"unknown body {body_id!r}")
    if complaint.body_id == body_id:
        raise RoutingError(f"the complaint is with {body_id} already")
    now = now or utcnow()
    event = ComplaintEvent(
        complaint_id=complaint.id,  # type: ignore[arg-type]
        kind="routed",
        note=f"{complaint.body_id or 'unrouted'} → {body_id}: {reason}",
        actor=actor,
        created_at=now,
    )
    complaint.body_id = body_id
    complaint.escalation_level = 0  # the new body's own clock of escalation starts
    complaint.updated_at = now
    session.add_all([complaint, event])
    await session.flush()
    return event


async def names(session: AsyncSession) -> dict[str, str]:
    """Each body's English name by id, for pages and exports."""
    return {b.id: b.name_en for b in await stored.bodies(session)}


async def seed_on_start(url: str, data: RoutingData) -> None:
    """First start: copy the default bodies and rules in, on a connection of its own that is closed after (the
    process's pool is left as it was, for whichever event loop serves it). A database that is down only delays it
    to the next start (complaints filed meanwhile wait as unrouted); a bad routing.yaml was refused as it loaded."""
    db = Database(url, pool_size=1)
    try:
        async with db.session() as session, session.begin():
            if await seed_defaults(session, data):
                log.info("routing: copied %s bodies and %s rules from routing.yaml", len(data.bodies), len(data.rules))
    except IntegrityError:  # another process starting at the same moment copied them first
        log.info("routing: the default bodies and rules were copied in by another process")
    except Exception:
        log.exception("routing: could not copy the default bodies and rules in")
    finally:
        await db.dispose()
