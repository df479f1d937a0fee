"""Staff alerts: who must hear that a complaint was filed, reopened, replied to by the citizen, routed or escalated,
and a daily digest per body of what is overdue or due soon.

An alert is made once, by a unique key (bot.models.StaffAlert), however many workers run; it lists its recipients
for the dashboard, and its e-mails are outbox rows on channel "email" (bot/channels/email.py), so a relay that is
down delays them (retried with backoff) and never blocks filing, and each is sent once as the outbox sends.

Filing, reopening, replies and routing are found by the worker, from the complaint's history (the events of those
kinds that have no alert yet), so the code that files or reopens knows nothing of alerts and a slow relay never
touches the citizen's request. Escalation alerts in the escalation's own transaction (it knows the step).

Who hears: the body's agents (within their categories) and supervisors and the body's alert contact; an unrouted
complaint's alerts go to the admins (who route it); an escalation to the supervisors, then the admins, as
bot/domain/escalation.py decides. Whoever caused the event is not alerted of it. Without SMTP_HOST alerts are
still made and shown on the dashboard; no e-mail is queued.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core import Core
from bot.domain.alert_texts import AlertText, load_alert_texts
from bot.domain.deadlines import PKT, local_due
from bot.domain.escalation import OnStep
from bot.domain.routing_data import load_routing
from bot.models import Body, Complaint, ComplaintEvent, Notification, StaffUser, utcnow
from bot.storage import alerts as stored

log = logging.getLogger(__name__)

EVENT_KINDS = {"filed": "new", "reopened": "reopened", "citizen_message": "citizen_replied", "routed": "routed"}
LOOKBACK = dt.timedelta(days=2)  # older events are not alerted (a worker down longer, or the first start)
REPLY_QUIET = dt.timedelta(hours=1)  # a citizen's further messages within this are folded into the first alert
BATCH = 200  # events per round; the next round takes the rest
DIGEST_LINES = 50
STEPS = {1: "the body's supervisors", 2: "the admins"}
MAX_ADDRESS_CHARS = 128  # the outbox's user id


@dataclass(frozen=True)
class Alerting:
    """What making an alert needs besides the database: settings (SMTP, links) and names (the knowledge base)."""

    core: Core

    @property
    def texts(self) -> dict[str, AlertText]:
        return load_alert_texts(self.core.settings.knowledge_dir)

    def link(self, path: str) -> str:
        return self.core.settings.dashboard_link(path)

    def values(self, complaint: Complaint, body: Body | None) -> dict[str, str]:
        kb = self.core.kb
        service, place = kb.services.get(complaint.category), kb.places.get(complaint.district)
        return {
            "reference": complaint.reference,
            "body": body.name_en if body else "unrouted (no body yet)",
            "category": service.name.en if service else complaint.category,
            "district": place.name.en if place else (complaint.district_text or complaint.district),
            "due": local_due(complaint.due_at) if complaint.due_at else "not set",
            "link": self.link(f"/complaints/{complaint.reference}"),
        }


def _actor(event: ComplaintEvent | None) -> str | None:
    if event is not None and event.actor.startswith("staff:"):
        return event.actor.removeprefix("staff:")
    return None


def _may_see(user: StaffUser, category: str | None) -> bool:
    """A supervisor sees all its body's complaints; an agent those of its categories (all when none are set)."""
    return user.role != "agent" or not user.categories or (category is not None and category in user.categories)


async def _recipients(
    session: AsyncSession, body: Body | None, category: str | None, level: int
) -> tuple[list[StaffUser], list[str]]:
    """The accounts to alert, and addresses beyond theirs (the body's contact)."""
    if body is None or level >= 2:
        return await stored.staff(session, ("admin",)), []
    roles = ("supervisor",) if level == 1 else ("agent", "supervisor")
    users = [u for u in await stored.staff(session, roles, body.id) if _may_see(u, category)]
    return users, [body.email] if body.email else []


async def _make(
    session: AsyncSession,
    alerting: Alerting,
    *,
    key: str,
    kind: str,
    subject: str,
    text: str,
    users: list[StaffUser],
    extra: list[str],
    complaint: Complaint | None = None,
    body_id: str | None = None,
    event_id: int | None = None,
    now: dt.datetime,
) -> bool:
    """The alert, its recipients and its e-mails, unless it exists already; True when this call made it."""
    alert_id = await stored.add_alert(
        session,
        key=key,
        kind=kind,
        complaint_id=complaint.id if complaint else None,
        event_id=event_id,
        body_id=body_id,
        subject=subject[:300],
        folded=False,
        created_at=now,
    )
    if alert_id is None:
        return False
    await stored.add_recipients(session, alert_id, [u.username for u in users])
    if alerting.core.settings.smtp_host:
        addresses = {a.strip().lower(): a.strip() for a in [*(u.email for u in users if u.email), *extra] if a}
        for address in sorted(addresses.values()):
            if len(address) > MAX_ADDRESS_CHARS:
                log.warning("alert %s: an address longer than %s characters is skipped", key, MAX_ADDRESS_CHARS)
                continue
            session.add(
                Notification(
                    channel="email",
                    user_id=address,
                    kind="staff_alert",
                    text=f"{subject}\n{text}",
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    await session.flush()
    return True


async def alert_complaint(
    session: AsyncSession,
    alerting: Alerting,
    complaint: Complaint,
    kind: str,
    *,
    event: ComplaintEvent,
    level: int = 0,
    now: dt.datetime,
) -> bool:
    """Alert the staff responsible for `complaint` of `event` (kind: new, reopened, citizen_replied, routed,
    escalated at `level`); False when it was alerted already."""
    assert complaint.id is not None and event.id is not None
    key = f"event:{event.id}"
    if kind == "citizen_replied" and await stored.recent_unfolded(session, complaint.id, kind, now - REPLY_QUIET):
        folded = await stored.add_alert(
            session, key=key, kind=kind, complaint_id=complaint.id, event_id=event.id, body_id=complaint.body_id,
            subject="(folded into the earlier alert)", folded=True, created_at=now,
        )  # fmt: skip
        return folded is not None
    body = await stored.body(session, complaint.body_id) if complaint.body_id else None
    values = alerting.values(complaint, body)
    if kind == "escalated":
        values["step"] = STEPS.get(level, "the admins")
    subject, text = alerting.texts[kind].render(values)
    users, extra = await _recipients(session, body, complaint.category, level)
    actor = _actor(event)
    users = [u for u in users if u.username != actor]
    return await _make(
        session, alerting, key=key, kind=kind, subject=subject, text=text, users=users, extra=extra,
        complaint=complaint, body_id=complaint.body_id, event_id=event.id, now=now,
    )  # fmt: skip


async def alert_new_events(session: AsyncSession, alerting: Alerting, now: dt.datetime | None = None) -> int:
    """Alert the filings, reopenings, citizen replies and re-routings that have no alert yet; how many were made."""
    now = now or utcnow()
    made = 0
    for event, complaint in await stored.unalerted_events(session, EVENT_KINDS, now - LOOKBACK, BATCH):
        made += await alert_complaint(session, alerting, complaint, EVENT_KINDS[event.kind], event=event, now=now)
    return made


def escalation_alerts(core: Core) -> OnStep:
    """The escalation's hook: each step it takes alerts whom it went to, in the escalation's transaction."""
    alerting = Alerting(core)

    async def on_step(
        session: AsyncSession, complaint: Complaint, event: ComplaintEvent, level: int, now: dt.datetime
    ) -> None:
        await alert_complaint(session, alerting, complaint, "escalated", event=event, level=level, now=now)

    return on_step


def _digest_line(complaint: Complaint, now: dt.datetime) -> str:
    assert complaint.due_at is not None
    state = "OVERDUE since" if complaint.due_at <= now else "due by the end of"
    return f"- {complaint.reference}: {state} {local_due(complaint.due_at)}"


async def send_digests(session: AsyncSession, alerting: Alerting, now: dt.datetime | None = None) -> int:
    """Today's digest for each body (and the unrouted, for the admins) with anything overdue or due soon, once a
    day from ALERT_DIGEST_HOUR (Pakistan time); how many were made."""
    now = now or utcnow()
    local = now.astimezone(PKT)
    if local.hour < alerting.core.settings.alert_digest_hour:
        return 0
    day = local.date().isoformat()
    soon = dt.timedelta(days=load_routing(alerting.core.settings.knowledge_dir).deadlines.due_soon_days)
    made = 0
    targets: list[Body | None] = [*await stored.bodies(session), None]
    for body in targets:
        key = f"digest:{body.id if body else 'unrouted'}:{day}"
        if await stored.exists(session, key):
            continue
        complaints = await stored.open_due_by(session, body.id if body else None, now + soon)
        if not complaints:
            continue
        overdue = sum(1 for c in complaints if c.due_at is not None and c.due_at <= now)
        lines = [_digest_line(c, now) for c in complaints[:DIGEST_LINES]]
        if len(complaints) > DIGEST_LINES:
            lines.append(f"... and {len(complaints) - DIGEST_LINES} more")
        subject, text = alerting.texts["digest"].render(
            {
                "body": body.name_en if body else "Unrouted complaints",
                "day": day,
                "overdue": str(overdue),
                "due_soon": str(len(complaints) - overdue),
                "lines": "\n".join(lines),
                "link": alerting.link(f"/overdue?body={body.id if body else 'unrouted'}"),
            }
        )
        users, extra = await _recipients(session, body, None, 0)
        made += await _make(
            session, alerting, key=key, kind="digest", subject=subject, text=text, users=users, extra=extra,
            body_id=body.id if body else None, now=now,
        )  # fmt: skip
    return made


async def alert_round(core: Core, now: dt.datetime | None = None) -> int:
    """One round of event alerts in its own transaction (the worker's loop calls this)."""
    async with core.db.session() as session, session.begin():
        made = await alert_new_events(session, Alerting(core), now)
    if made:
        log.info("made %s staff alert(s)", made)
    return made


async def digest_round(core: Core, now: dt.datetime | None = None) -> int:
    """Today's digests, if due, in their own transaction (the worker's loop calls this once a minute)."""
    async with core.db.session() as session, session.begin():
        made = await send_digests(session, Alerting(core), now)
    if made:
        log.info("made %s daily digest(s)", made)
    return made
