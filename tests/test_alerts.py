"""Staff alerts through a real SMTP server on 127.0.0.1 (aiosmtpd), on SQLite and PostgreSQL: who hears of a new,
reopened, replied-to, routed or escalated complaint; a relay that is down delays alerts (retried with backoff) and
never blocks filing, each e-mail sent once; the daily digest once per body and day with two workers; no SMTP_HOST:
dashboard alerts only, nothing sent, nothing failing. Times are set by the test (the clock is an argument)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.channels import build_channels, channel_report
from bot.channels.base import SendError
from bot.channels.email import EmailChannel
from bot.core import Core
from bot.db import Database
from bot.domain import routing
from bot.domain.alert_texts import AlertTextError, load_alert_texts, parse_alert_texts
from bot.domain.alerts import alert_round, digest_round, escalation_alerts
from bot.domain.complaints import Draft, change_status, file_complaint, reopen
from bot.domain.conversation import add_citizen_message
from bot.domain.deadlines import PKT
from bot.domain.escalation import escalate_round
from bot.domain.outbox import deliver_due, run_sender
from bot.domain.routing_data import RoutingData, load_routing
from bot.models import Body, Complaint, Notification, StaffAlert
from bot.settings import Settings
from bot.staff import accounts
from bot.storage import alerts as stored
from bot.storage import outbox as outbox_rows

from .conftest import sahulat
from .fake_telegram import free_port
from .smtp_server import Mailbox, smtp_server

PASSWORD = "a long password 1"
KP = "Khyber Pakhtunkhwa"
FILED = dt.datetime(2026, 8, 10, 10, tzinfo=PKT)  # a Monday; due at the end of 9 September (20 working days)
DUE = dt.datetime(2026, 9, 10, tzinfo=PKT)
DASHBOARD = "https://staff.example.pk"
KPITB_STAFF = ["ali@kpitb.test", "complaints@kpitb.test", "sana@kpitb.test"]  # agent, the body's contact, supervisor


@pytest.fixture(scope="module")
def data(settings: Settings) -> RoutingData:
    return load_routing(settings.knowledge_dir)


def body_name(data: RoutingData, body_id: str) -> str:
    return next(b.name.en for b in data.bodies if b.id == body_id)


def mailing(core: Core, port: int | None, db: Database | None = None) -> Core:
    """The core with SMTP set to 127.0.0.1:`port` (None: no SMTP_HOST) and its channels built from those settings."""
    update = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"} if port else {"smtp_host": None}
    settings = core.settings.model_copy(update={**update, "dashboard_url": DASHBOARD})
    mailer = dataclasses.replace(core, settings=settings, db=db or core.db)
    mailer.channels = build_channels(mailer)
    return mailer


async def staff(db: Database, data: RoutingData) -> None:
    """KPITB: an agent, a supervisor, an agent of other categories, a viewer, and an alert contact; PSEB: a
    supervisor; an admin."""
    async with db.session() as session, session.begin():
        await routing.seed_defaults(session, data)
        add = accounts.create_staff
        await add(session, "ali", PASSWORD, "agent", body_id="kpitb", email="ali@kpitb.test")
        await add(session, "sana", PASSWORD, "supervisor", body_id="kpitb", email="sana@kpitb.test")
        await add(session, "zed", PASSWORD, "agent", ["park_facilities"], body_id="kpitb", email="zed@kpitb.test")
        await add(session, "vee", PASSWORD, "viewer", body_id="kpitb", email="vee@kpitb.test")
        await add(session, "omar", PASSWORD, "supervisor", body_id="pseb", email="omar@pseb.test")
        await add(session, "root", PASSWORD, "admin", email="root@sahulat.test")
        kpitb = await session.get(Body, "kpitb")
        assert kpitb is not None
        kpitb.email = "complaints@kpitb.test"


async def file(db: Database, data: RoutingData, *, province: str = KP, now: dt.datetime = FILED) -> Complaint:
    draft = Draft(
        channel="telegram",
        user_id="4242",
        category="programme",
        district="mardan" if province == KP else "karachi",
        description="The Digital Jobs office never answered my application",
        province=province,
    )
    async with db.session() as session, session.begin():
        return await file_complaint(session, draft, now, data)


async def unread(db: Database, username: str) -> int:
    async with db.session() as session:
        return await stored.unread_count(session, username)


async def email_rows(db: Database) -> list[Notification]:
    async with db.session() as session:
        query = select(Notification).where(Notification.channel == "email").order_by(col(Notification.id))
        return list(await session.exec(query))


async def test_a_new_complaint_emails_its_bodys_staff(core: Core, db: Database, data: RoutingData) -> None:
    await staff(db, data)
    port = free_port()
    mailer = mailing(core, port)
    routed = await file(db, data)
    lost = await file(db, data, province="Sindh")  # no rule: unrouted, so the admins hear of it
    later = FILED + dt.timedelta(seconds=5)
    with smtp_server(port) as box:
        assert await alert_round(mailer, later) == 2
        assert await alert_round(mailer, later) == 0  # once
        assert await deliver_due(mailer, now=later) == 4
        assert await deliver_due(mailer, now=later + dt.timedelta(hours=1)) == 0
    kpitb = body_name(data, "kpitb")
    assert box.subjects() == sorted(
        [
            *[(to, f"New complaint {routed.reference} for {kpitb}") for to in KPITB_STAFF],
            ("root@sahulat.test", f"New complaint {lost.reference} for unrouted (no body yet)"),
        ]
    )
    message = box.to("ali@kpitb.test")[0]
    text = message.get_content()
    assert f"{DASHBOARD}/staff/complaints/{routed.reference}" in text
    assert "Mardan" in text and "2026-09-09" in text  # the district, and the last day to act
    assert "Digital Jobs office" not in text  # what the citizen wrote stays on the dashboard
    assert str(message["From"]) == "Sahulat <sahulat@localhost>"
    # On the dashboard too: only the accounts alerted (not the agent of other categories, the viewer, PSEB).
    counts = {name: await unread(db, name) for name in ("ali", "sana", "zed", "vee", "omar", "root")}
    assert counts == {"ali": 1, "sana": 1, "zed": 0, "vee": 0, "omar": 0, "root": 1}


async def test_reopened_replied_routed_and_escalated_complaints_alert(
    core: Core, db: Database, data: RoutingData
) -> None:
    await staff(db, data)
    port = free_port()
    mailer = mailing(core, port)
    complaint = await file(db, data)
    lost = await file(db, data, province="Sindh")
    ref, kpitb = complaint.reference, body_name(data, "kpitb")
    with smtp_server(port) as box:
        await alert_round(mailer, FILED)
        await deliver_due(mailer, now=FILED)
        box.messages.clear()
        day = FILED + dt.timedelta(hours=1)  # reopened the same day: due again at the end of 9 September
        async with db.session() as session, session.begin():
            found = await session.get(Complaint, complaint.id)
            assert found is not None
            await change_status(session, core.kb, found, "resolved", actor="staff:ali", now=day)
            await reopen(session, found, now=day + dt.timedelta(minutes=1))
            await add_citizen_message(session, found, "It is still not solved", now=day + dt.timedelta(minutes=2))
            await add_citizen_message(session, found, "Please call me", now=day + dt.timedelta(minutes=3))
            moved = await session.get(Complaint, lost.id)
            assert moved is not None
            await routing.reroute(session, moved, "kpitb", reason="KP programme after all", actor="staff:root")
        await alert_round(mailer, day + dt.timedelta(minutes=5))
        await deliver_due(mailer, now=day + dt.timedelta(minutes=5))
        reopened = [(to, f"Complaint {ref} was reopened") for to in KPITB_STAFF]
        replied = [(to, f"The citizen wrote on complaint {ref}") for to in KPITB_STAFF]  # once for both messages
        routed = [(to, f"Complaint {lost.reference} was routed to {kpitb}") for to in KPITB_STAFF]
        assert box.subjects() == sorted([*reopened, *replied, *routed])
        box.messages.clear()

        on_step = escalation_alerts(mailer)
        assert await escalate_round(db, data, DUE, on_step=on_step) == 2
        await deliver_due(mailer, now=DUE)
        step = f"Overdue: complaint {ref} escalated to the body's supervisors"
        step_lost = f"Overdue: complaint {lost.reference} escalated to the body's supervisors"
        expected = [("complaints@kpitb.test", step), ("complaints@kpitb.test", step_lost)]
        expected += [("sana@kpitb.test", step), ("sana@kpitb.test", step_lost)]
        assert box.subjects() == sorted(expected)  # the supervisors (and the contact), not the agents
        box.messages.clear()
        admins_day = dt.datetime(2026, 9, 17, tzinfo=PKT)  # five working days later
        assert await escalate_round(db, data, admins_day, on_step=on_step) == 2
        await deliver_due(mailer, now=admins_day)
        assert box.subjects() == sorted(
            ("root@sahulat.test", f"Overdue: complaint {c} escalated to the admins") for c in (ref, lost.reference)
        )
        assert await alert_round(mailer, admins_day) == 0  # escalations are alerted once, by the escalation


async def test_a_relay_that_is_down_delays_alerts_and_they_go_once_when_it_is_back(
    core: Core, db: Database, data: RoutingData
) -> None:
    await staff(db, data)
    port = free_port()  # nothing listens here yet
    mailer = mailing(core, port)
    complaint = await file(db, data)  # filing needs no relay
    assert complaint.reference.startswith("CMP-")
    assert await alert_round(mailer, FILED) == 1
    assert await deliver_due(mailer, now=FILED) == 0
    waiting = await email_rows(db)
    assert [r.user_id for r in waiting] == sorted(KPITB_STAFF)
    assert all(r.status == "pending" and r.attempts == 1 for r in waiting)
    assert all("SMTP relay unavailable" in (r.last_error or "") for r in waiting)
    assert all(r.next_attempt_at == FILED + dt.timedelta(seconds=10) for r in waiting)  # the outbox's backoff
    with smtp_server(port) as box:
        assert await deliver_due(mailer, now=FILED + dt.timedelta(seconds=9)) == 0  # not due again yet
        assert await deliver_due(mailer, now=FILED + dt.timedelta(seconds=10)) == 3
        assert await deliver_due(mailer, now=FILED + dt.timedelta(hours=6)) == 0
    assert sorted(str(m["To"]) for m in box.messages) == KPITB_STAFF  # each once
    assert all(r.status == "sent" and r.sent_at is not None for r in await email_rows(db))


async def test_two_senders_and_a_sender_that_died_send_each_alert_once(
    core: Core, db: Database, data: RoutingData, database_url: str
) -> None:
    await staff(db, data)
    port = free_port()
    mailer = mailing(core, port)
    await file(db, data)
    await file(db, data, now=FILED + dt.timedelta(minutes=1))
    other = Database(database_url)
    second = mailing(core, port, db=other)

    async def alerter(which: Core) -> int:
        try:
            return await alert_round(which, FILED + dt.timedelta(minutes=2))
        except Exception:  # SQLite: a second writer may find the database locked; the next round alerts
            return 0

    assert sum(await asyncio.gather(alerter(mailer), alerter(second))) == 2  # each alert made once
    assert len(await email_rows(db)) == 6
    first = (await email_rows(db))[0]
    assert first.id is not None
    died_at = FILED + dt.timedelta(minutes=2)
    async with db.session() as session, session.begin():  # a sender claims a row, then dies before sending it
        assert await outbox_rows.claim(session, first.id, "dead", died_at, dt.timedelta(seconds=120)) is not None
    try:

        async def sender(which: Core, now: dt.datetime) -> int:
            try:
                return await deliver_due(which, now=now)
            except Exception:  # SQLite: a second writer may find the database locked; the next round sends
                return 0

        with smtp_server(port) as box:
            await asyncio.gather(sender(mailer, died_at), sender(second, died_at))
            assert await deliver_due(mailer, now=died_at + dt.timedelta(seconds=60)) == 0  # the lease still runs
            assert await deliver_due(mailer, now=died_at + dt.timedelta(seconds=121)) == 1  # taken over
    finally:
        await other.dispose()
    assert len(box.messages) == 6
    assert sorted(str(m["To"]) for m in box.messages) == sorted(KPITB_STAFF * 2)


async def test_the_daily_digest_goes_once_per_body_and_day_with_two_workers(
    core: Core, db: Database, data: RoutingData, database_url: str
) -> None:
    await staff(db, data)
    port = free_port()
    mailer = mailing(core, port)
    late = await file(db, data)  # due at the end of 9 September
    soon = await file(db, data, now=FILED + dt.timedelta(days=2))  # the 11th
    lost = await file(db, data, province="Sindh")
    before = dt.datetime(2026, 9, 10, 7, 59, tzinfo=PKT)
    assert await digest_round(mailer, before) == 0  # ALERT_DIGEST_HOUR is 8, Pakistan time
    at = dt.datetime(2026, 9, 10, 8, tzinfo=PKT)
    other = Database(database_url)
    try:
        second = mailing(core, port, db=other)

        async def worker(which: Core) -> int:
            try:
                return await digest_round(which, at)
            except Exception:  # SQLite: a second writer may find the database locked
                return 0

        assert sum(await asyncio.gather(worker(mailer), worker(second))) == 2  # KPITB's and the unrouted
    finally:
        await other.dispose()
    assert await digest_round(mailer, at + dt.timedelta(hours=10)) == 0  # once a day
    with smtp_server(port) as box:
        await deliver_due(mailer, now=at)
        kpitb = body_name(data, "kpitb")
        assert box.subjects() == sorted(
            [
                *[(to, f"{kpitb}: 1 overdue, 1 due soon (2026-09-10)") for to in KPITB_STAFF],
                ("root@sahulat.test", "Unrouted complaints: 1 overdue, 0 due soon (2026-09-10)"),
            ]
        )
        text = box.to("sana@kpitb.test")[0].get_content()
        assert f"- {late.reference}: OVERDUE since 2026-09-09" in text
        assert f"- {soon.reference}: due by the end of 2026-09-11" in text
        assert lost.reference not in text and f"{DASHBOARD}/staff/overdue?body=kpitb" in text
        box.messages.clear()
        assert await digest_round(mailer, at + dt.timedelta(days=1)) == 2  # the next day's
        await deliver_due(mailer, now=at + dt.timedelta(days=1))
        assert len(box.messages) == 4
    async with db.session() as session:
        keys = sorted(a.key for a in await session.exec(select(StaffAlert).where(StaffAlert.kind == "digest")))
    assert keys == [
        "digest:kpitb:2026-09-10",
        "digest:kpitb:2026-09-11",
        "digest:unrouted:2026-09-10",
        "digest:unrouted:2026-09-11",
    ]


async def test_without_an_smtp_host_alerts_stay_on_the_dashboard_and_nothing_fails(
    core: Core, db: Database, data: RoutingData
) -> None:
    await staff(db, data)
    quiet = mailing(core, None)
    assert "email" not in quiet.channels
    assert "E-mail alerts: off, SMTP_HOST not set (alerts show on the dashboard only)" in channel_report(quiet.settings)
    await file(db, data)
    assert await alert_round(quiet, FILED) == 1
    assert await digest_round(quiet, dt.datetime(2026, 9, 10, 9, tzinfo=PKT)) == 1
    assert await email_rows(db) == []
    assert await deliver_due(quiet, now=FILED) == 0
    assert await unread(db, "ali") == 2 and await unread(db, "sana") == 2


async def test_a_refused_recipient_fails_for_good_and_others_still_go(core: Core) -> None:
    port = free_port()
    mailer = mailing(core, port)
    channel = EmailChannel(mailer)
    mailbox = Mailbox()
    mailbox.refuse.add("gone@kpitb.test")
    with smtp_server(port, mailbox) as box:
        with pytest.raises(SendError) as refused:
            await channel.send("gone@kpitb.test", "Subject line\nbody")
        assert refused.value.retryable is False
        await channel.send("ali@kpitb.test", "Subject line\nThe body.")
    assert box.subjects() == [("ali@kpitb.test", "Subject line")]
    assert box.to("ali@kpitb.test")[0].get_content().strip() == "The body."
    with pytest.raises(SendError) as down:  # the server is gone: retry later
        await channel.send("ali@kpitb.test", "Subject\nbody")
    assert down.value.retryable is True


def test_the_alert_texts_are_checked_as_they_load(settings: Settings) -> None:
    texts = load_alert_texts(settings.knowledge_dir)
    assert set(texts) == {"new", "reopened", "citizen_replied", "routed", "escalated", "digest"}
    good = {kind: {"subject": "s", "body": "b"} for kind in texts}
    assert parse_alert_texts(good)["new"].subject == "s"
    with pytest.raises(AlertTextError, match=r"alerts.yaml: new: unknown placeholder \{name\}"):
        parse_alert_texts({**good, "new": {"subject": "For {name}", "body": "b"}})
    with pytest.raises(AlertTextError, match="the alert kind 'digest' is missing"):
        parse_alert_texts({k: v for k, v in good.items() if k != "digest"})
    with pytest.raises(AlertTextError, match="unknown alert kind 'nwe'"):
        parse_alert_texts({**good, "nwe": {"subject": "s", "body": "b"}})
    with pytest.raises(AlertTextError, match="alerts.yaml: escalated"):
        parse_alert_texts({**good, "escalated": {"subject": "two\nlines", "body": "b"}})


def test_kb_check_names_a_bad_alert_text(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    shutil.copytree(settings.knowledge_dir, folder)
    text = (folder / "alerts.yaml").read_text(encoding="utf-8")
    (folder / "alerts.yaml").write_text(text.replace("{reference} was reopened", "{refrence} was reopened"), "utf-8")
    code, _, err = sahulat("kb", "check", "--dir", str(folder))
    assert code == 1
    assert "invalid alert texts: alerts.yaml: reopened: unknown placeholder {refrence}" in err


async def test_the_workers_loop_alerts_escalates_and_sends_the_digest(
    core: Core, db: Database, data: RoutingData
) -> None:
    """run_sender (the worker's loop, and the web process's with OUTBOX_IN_WEB) wires it all together: a new
    complaint's alert, an old one's escalation steps and today's digest (ALERT_DIGEST_HOUR 0: due at once) reach the
    relay, each once. A complaint filed before the look-back is not alerted as new."""
    await staff(db, data)
    port = free_port()
    mailer = mailing(core, port)
    mailer.settings = mailer.settings.model_copy(update={"alert_digest_hour": 0})
    now = dt.datetime.now(dt.UTC)
    fresh = await file(db, data, now=now)
    old = await file(db, data, now=now - dt.timedelta(days=60))  # overdue long enough for both steps
    stop = asyncio.Event()
    with smtp_server(port) as box:
        loop = asyncio.create_task(run_sender(mailer, stop, 0.05))
        try:
            await box.wait_for(9)
        finally:
            stop.set()
            await loop
    kpitb, today = body_name(data, "kpitb"), now.astimezone(PKT).date().isoformat()
    supervisors = f"Overdue: complaint {old.reference} escalated to the body's supervisors"
    assert box.subjects() == sorted(
        [
            *[(to, f"New complaint {fresh.reference} for {kpitb}") for to in KPITB_STAFF],
            ("complaints@kpitb.test", supervisors),
            ("sana@kpitb.test", supervisors),
            ("root@sahulat.test", f"Overdue: complaint {old.reference} escalated to the admins"),
            *[(to, f"{kpitb}: 1 overdue, 0 due soon ({today})") for to in KPITB_STAFF],
        ]
    )
