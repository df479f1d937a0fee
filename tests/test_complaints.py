"""Complaints: intake flow, references, privacy, lifecycle and notifications, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import pytest
from sqlmodel import col, select

from bot.channels.base import Channel, SendError, Sent
from bot.core import Core
from bot.db import Database
from bot.domain.complaints import (
    ComplaintError,
    Draft,
    add_note,
    change_status,
    file_complaint,
    parse_reference,
)
from bot.domain.outbox import deliver_due
from bot.models import Complaint, ComplaintEvent, Notification, utcnow
from handlers.dispatcher import Dispatcher
from handlers.messages import Incoming, Location, Media, Option, Outcome

from .conftest import scalar


class Citizen:
    def __init__(self, dispatcher: Dispatcher, user: str = "citizen", channel: str = "console") -> None:
        self.dispatcher, self.user, self.channel = dispatcher, user, channel

    async def say(self, text: str = "", **kwargs: object) -> Outcome:
        # Telegram and WhatsApp mark their messages as able to carry attachments; the console does not.
        rich = self.channel in ("telegram", "whatsapp")
        msg = Incoming(channel=self.channel, user_id=self.user, text=text, can_attach=rich, **kwargs)  # type: ignore[arg-type]
        return await self.dispatcher.handle(msg)


async def complaints(db: Database) -> list[Complaint]:
    async with db.session() as session:
        return list(await session.exec(select(Complaint).order_by(col(Complaint.id))))


async def file_via_chat(
    citizen: Citizen, description: str = "the registration has been pending for three months"
) -> Outcome:
    await citizen.say("I want to complain")
    await citizen.say("2")  # PSEB registration
    await citizen.say("startup")
    await citizen.say("Mardan")
    await citizen.say(description)
    await citizen.say("no")  # consent
    return await citizen.say("confirm")


# -- intake --------------------------------------------------------------------------------------------


async def test_whole_flow_on_the_core(dispatcher: Dispatcher, db: Database) -> None:
    citizen = Citizen(dispatcher)
    start = await citizen.say("I want to complain")
    assert start.intent == "complaint_start"
    assert [o.payload for o in start.options][:2] == ["svc:park_facilities", "svc:pseb_registration"]
    question = await citizen.say("2")
    assert [o.payload for o in question.options] == ["val:startup", "val:company", "val:freelancer"]
    assert "city or district" in (await citizen.say("A company")).replies[0].text
    assert "Describe the problem" in (await citizen.say("pindi")).replies[0].text
    consent = await citizen.say("My registration has been pending for three months now")
    assert [o.payload for o in consent.options] == ["yes", "no"]
    summary = await citizen.say("haan")
    text = summary.replies[0].text
    assert "Category: PSEB registration" in text and "Place: Rawalpindi" in text and "A company" in text
    assert "Staff may contact you: Yes" in text
    # Before filing, the citizen is told what anyone can read on Open311, and what not (issue 20, finding 3).
    notice = dispatcher.kb.texts("cmp_public_notice", "en")
    assert notice in text and text.index(notice) < text.index("File it?")
    assert "public" in notice and "Open311" in notice and "name, number, photos and exact location are not" in notice
    assert all("Open311" in dispatcher.kb.texts("cmp_public_notice", lang) for lang in ("ur", "roman"))
    assert await complaints(db) == []  # nothing is stored before the confirmation
    filed = await citizen.say("1")  # Confirm and file
    assert filed.intent == "complaint_filed"
    stored = await complaints(db)
    assert len(stored) == 1
    complaint = stored[0]
    assert filed.entry_id == complaint.reference and complaint.reference in filed.replies[0].text
    assert complaint.reference.startswith(f"CMP-{utcnow().year}-")
    assert (complaint.category, complaint.district, complaint.contact_consent) == (
        "pseb_registration",
        "rawalpindi",
        True,
    )
    assert complaint.answers == {"applicant": "company"} and complaint.status == "received"
    assert await scalar(db, "SELECT count(*) FROM complaint_event WHERE kind = 'filed'") == 1


async def test_flow_with_evidence_and_location_on_a_rich_channel(dispatcher: Dispatcher, db: Database) -> None:
    citizen = Citizen(dispatcher, channel="telegram")
    await citizen.say("/complain")
    await citizen.say("1")  # park facilities
    await citizen.say("skip")  # optional: which park
    await citizen.say("Swat")
    evidence = await citizen.say("There is no electricity in the park since last week")
    assert "photo or document" in evidence.replies[0].text
    located = await citizen.say("", media=(Media(kind="photo", ref="file-123", content_type="image/jpeg"),))
    assert "location" in located.replies[0].text
    await citizen.say("", location=Location(latitude=34.77, longitude=72.36))
    summary = await citizen.say("no")
    assert "Attachments: 1" in summary.replies[0].text and "Location: shared" in summary.replies[0].text
    await citizen.say("confirm")
    (complaint,) = await complaints(db)
    assert complaint.attachments == [{"kind": "photo", "ref": "file-123", "content_type": "image/jpeg"}]
    assert (complaint.latitude, complaint.longitude) == (34.77, 72.36)


async def test_complaint_words_preselect_the_category(dispatcher: Dispatcher) -> None:
    outcome = await Citizen(dispatcher).say("I want to complain about the e-stamping centre")
    assert outcome.intent == "complaint_start"
    assert [o.payload for o in outcome.options][0] == "val:e_stamping"  # straight to "which service?"


@pytest.mark.parametrize("again", ["haan mujhe complaint karni hai", "ok so how do i complain about that?"])
async def test_asking_to_complain_inside_the_flow_goes_on(dispatcher: Dispatcher, db: Database, again: str) -> None:
    """A grievance starts the flow; "yes, I want to complain" then is agreement, not an answer to re-ask."""
    citizen = Citizen(dispatcher)
    first = await citizen.say("the e-stamp I paid for never arrived and the money is gone")
    assert first.intent == "complaint_start"
    outcome = await citizen.say(again)
    assert outcome.intent == "complaint"
    assert any(said in outcome.replies[0].text for said in ("let's file it", "shikayat darj karte hain"))
    assert "Sorry" not in outcome.replies[0].text and "Maazrat" not in outcome.replies[0].text
    assert [o.payload for o in outcome.options] == [o.payload for o in first.options]  # the same question
    assert (await citizen.say("the weather")).intent == "reask"  # and a real non-answer still gets one retry
    assert (await citizen.say("the weather")).intent == "flow_abandoned"
    assert await complaints(db) == []


async def test_every_reask_path(dispatcher: Dispatcher, db: Database) -> None:
    citizen = Citizen(dispatcher, channel="whatsapp")
    await citizen.say("/complain")
    assert (await citizen.say("the weather")).intent == "reask"  # category
    await citizen.say("3")  # programme
    assert (await citizen.say("cricket")).intent == "reask"  # which programme
    await citizen.say("E-Rozgar")
    unknown = await citizen.say("Chak 45")
    assert 'don\'t know "Chak 45"' in unknown.replies[0].text
    assert [o.payload for o in unknown.options] == ["place:other"]
    description = await citizen.say("Other (keep as typed)")
    assert "Describe" in description.replies[0].text
    assert "at least 3 words" in (await citizen.say("bad")).replies[0].text
    assert "shorten it to 2,000" in (await citizen.say("x " * 1500)).replies[0].text
    await citizen.say("The E-Rozgar training centre was closed on every visit")
    assert (await citizen.say("a poem")).intent == "reask"  # evidence: asked again once
    assert "location" in (await citizen.say("another poem")).replies[0].text  # then skipped
    await citizen.say("skip")
    assert (await citizen.say("maybe")).intent == "reask"  # consent
    summary = await citizen.say("no")
    assert "Place: Chak 45" in summary.replies[0].text
    assert (await citizen.say("perhaps")).intent == "reask"  # summary
    await citizen.say("confirm")
    (complaint,) = await complaints(db)
    assert (complaint.district, complaint.district_text) == ("other", "Chak 45")
    assert complaint.answers == {"programme": "e_rozgar"}


async def test_edit_from_the_summary(dispatcher: Dispatcher, db: Database) -> None:
    citizen = Citizen(dispatcher)
    await citizen.say("/complain")
    await citizen.say("5")  # something else: no extra questions
    await citizen.say("Quetta")
    await citizen.say("The office did not answer any of my letters")
    await citizen.say("no")
    edit = await citizen.say("edit")
    assert "field" not in edit.replies[0].text and len(edit.options) == 4  # no media steps on the console
    await citizen.say("Place")
    summary = await citizen.say("Sukkur")
    assert "Place: Sukkur" in summary.replies[0].text  # back to the summary, not the next step
    await citizen.say("confirm")
    assert (await complaints(db))[0].district == "sukkur"


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5, 6])
async def test_cancel_at_each_step_saves_nothing(dispatcher: Dispatcher, db: Database, steps: int) -> None:
    citizen = Citizen(dispatcher)
    answers = ["/complain", "2", "startup", "Mardan", "the registration has been pending for months", "no"]
    for answer in answers[:steps]:
        await citizen.say(answer)
    cancelled = await citizen.say("cancel")
    assert cancelled.intent == "cancel"
    assert await complaints(db) == []
    assert await scalar(db, "SELECT count(*) FROM conversation WHERE flow IS NOT NULL") == 0


async def test_repeated_submission_is_recognised(dispatcher: Dispatcher, db: Database) -> None:
    citizen = Citizen(dispatcher)
    first = await file_via_chat(citizen)
    again = await file_via_chat(citizen, "The registration has been pending for three months!")
    assert again.intent == "complaint"
    assert first.entry_id in again.replies[0].text and "same complaint" in again.replies[0].text
    kept = await citizen.say("Yes, the same one")
    assert kept.intent == "complaint_duplicate" and len(await complaints(db)) == 1
    await file_via_chat(citizen, "The registration has been pending for three months!")
    filed = await citizen.say("No, file it as new")
    assert filed.intent == "complaint_filed" and len(await complaints(db)) == 2
    other_text = await file_via_chat(citizen, "My certificate has a spelling mistake in the company name")
    assert other_text.intent == "complaint_filed"


# -- references ----------------------------------------------------------------------------------------


def test_parse_reference() -> None:
    assert parse_reference("cmp-2026-000123") == "CMP-2026-000123"
    assert parse_reference("CMP 2026 123") == "CMP-2026-000123"
    assert parse_reference("hello") is None


async def test_200_concurrent_filings_get_200_distinct_references(db: Database) -> None:
    async def one(i: int) -> str:
        draft = Draft(
            channel="test", user_id=f"u{i % 50}", category="other", district="swat", description=f"problem {i}"
        )
        async with db.session() as session, session.begin():
            return (await file_complaint(session, draft)).reference

    references = await asyncio.gather(*(one(i) for i in range(200)))
    assert len(set(references)) == 200
    assert await scalar(db, "SELECT count(*) FROM complaint") == 200
    numbers = sorted(int(r.rsplit("-", 1)[1]) for r in references)
    assert numbers == list(range(1, 201))  # none skipped, none reused


async def test_rolled_back_filing_does_not_burn_or_reuse_a_reference(db: Database) -> None:
    draft = Draft(channel="test", user_id="u", category="other", district="swat", description="a problem here")
    with pytest.raises(RuntimeError):
        async with db.session() as session, session.begin():
            await file_complaint(session, draft)
            raise RuntimeError("crash before commit")
    async with db.session() as session, session.begin():
        kept = await file_complaint(session, draft)
    assert kept.reference.endswith("-000001")
    assert await scalar(db, "SELECT count(*) FROM complaint") == 1


# -- status and privacy --------------------------------------------------------------------------------


async def test_status_lists_own_complaints_and_hides_others(dispatcher: Dispatcher) -> None:
    alice, bob = Citizen(dispatcher, "alice"), Citizen(dispatcher, "bob")
    reference = (await file_via_chat(alice)).entry_id
    listed = await alice.say("status")
    assert reference in listed.replies[0].text
    detail = await alice.say(f"status {reference.lower()}")
    assert "PSEB registration" in detail.replies[0].text and "Received" in detail.replies[0].text
    foreign = await bob.say(f"status {reference}")
    unknown = await bob.say("status CMP-2026-999999")
    assert foreign.replies[0].text == unknown.replies[0].text.replace("CMP-2026-999999", reference)
    assert "Mardan" not in foreign.replies[0].text
    assert "no complaints" in (await bob.say("status")).replies[0].text
    # The same user id on another channel is another person.
    assert "no complaints" in (await Citizen(dispatcher, "alice", channel="whatsapp").say("status")).replies[0].text


async def test_menu_check_a_complaint(dispatcher: Dispatcher) -> None:
    citizen = Citizen(dispatcher)
    reference = (await file_via_chat(citizen)).entry_id
    await citizen.say("menu")
    listed = await citizen.say("Check a complaint")
    assert listed.options[0].payload == f"status:{reference}"
    detail = await citizen.say("1")
    assert detail.replies[0].text.startswith(reference)


# -- lifecycle and notifications -----------------------------------------------------------------------


async def _one_complaint(db: Database, core: Core, language: str = "en") -> Complaint:
    draft = Draft(
        channel="test", user_id="citizen", category="other", district="swat", description="a problem", language=language
    )
    async with db.session() as session, session.begin():
        return await file_complaint(session, draft)


async def _complaint(db: Database, complaint_id: int) -> Complaint:
    async with db.session() as session:
        found = await session.get(Complaint, complaint_id)
        assert found is not None
        return found


async def test_status_changes_and_public_notes_queue_notifications(db: Database, core: Core) -> None:
    complaint = await _one_complaint(db, core, language="ur")
    async with db.session() as session, session.begin():
        complaint = await session.get(Complaint, complaint.id)
        await change_status(session, core.kb, complaint, "in_review", actor="staff:amna")
        await add_note(session, core.kb, complaint, "Visit planned for Monday", actor="staff:amna", public=True)
        await add_note(session, core.kb, complaint, "Caller seemed upset", actor="staff:amna", public=False)
        with pytest.raises(ComplaintError):
            await change_status(session, core.kb, complaint, "rejected", actor="staff:amna")  # no reason
    async with db.session() as session:
        notes = list(await session.exec(select(Notification).order_by(col(Notification.id))))
        events = list(await session.exec(select(ComplaintEvent).order_by(col(ComplaintEvent.id))))
    assert [n.text for n in notes] == [
        f"آپ کی شکایت {complaint.reference} پر اپ ڈیٹ: اب اس کی صورتحال زیر جائزہ ہے۔",
        f"آپ کی شکایت {complaint.reference} پر اپ ڈیٹ: Visit planned for Monday",
    ]
    assert [(e.kind, e.actor, e.public) for e in events] == [
        ("filed", "citizen", False),
        ("status", "staff:amna", True),
        ("public_note", "staff:amna", True),
        ("internal_note", "staff:amna", False),
    ]


async def test_citizen_sees_public_notes_not_internal_ones(dispatcher: Dispatcher, db: Database, core: Core) -> None:
    citizen = Citizen(dispatcher, channel="test")
    complaint = await _one_complaint(db, core)
    async with db.session() as session, session.begin():
        stored = await session.get(Complaint, complaint.id)
        await add_note(session, core.kb, stored, "We called the park manager", actor="staff:a", public=True)
        await add_note(session, core.kb, stored, "internal: duplicate of another case", actor="staff:a", public=False)
    text = (await citizen.say(f"status {complaint.reference}")).replies[0].text
    assert "We called the park manager" in text and "internal" not in text


async def test_reject_needs_reason_and_shows_it(dispatcher: Dispatcher, db: Database, core: Core) -> None:
    complaint = await _one_complaint(db, core)
    async with db.session() as session, session.begin():
        stored = await session.get(Complaint, complaint.id)
        await change_status(session, core.kb, stored, "rejected", actor="staff:a", reason="Not an IT-sector service")
    text = (await Citizen(dispatcher, channel="test").say(f"status {complaint.reference}")).replies[0].text
    assert "Rejected" in text and "Reason: Not an IT-sector service" in text


async def test_reopen_within_14_days_and_rate(dispatcher: Dispatcher, db: Database, core: Core) -> None:
    citizen = Citizen(dispatcher, channel="test")
    complaint = await _one_complaint(db, core)
    assert (
        "Only a resolved complaint" in (await citizen.say("", payload=f"reopen:{complaint.reference}")).replies[0].text
    )
    async with db.session() as session, session.begin():
        stored = await session.get(Complaint, complaint.id)
        await change_status(session, core.kb, stored, "resolved", actor="staff:a")
    detail = await citizen.say(f"status {complaint.reference}")
    assert [o.payload for o in detail.options][:2] == [f"reopen:{complaint.reference}", f"rate:{complaint.reference}"]
    ask = await citizen.say("Rate the outcome")
    assert [o.label for o in ask.options] == ["1", "2", "3", "4", "5"]
    assert (await citizen.say("9")).intent == "reask"
    assert "4 of 5" in (await citizen.say("4")).replies[0].text
    assert (await _complaint(db, complaint.id)).rating == 4  # type: ignore[arg-type]
    asked = await citizen.say("", payload=f"reopen:{complaint.reference}")
    assert "what is still wrong" in asked.replies[0].text  # reopening asks why first
    reopened = await citizen.say("The certificate still has the wrong name")
    assert "Reopened" in reopened.replies[0].text
    again = await _complaint(db, complaint.id)  # type: ignore[arg-type]
    assert (again.status, again.rating) == ("in_review", None)
    # Resolved again, but long ago: too late to reopen.
    async with db.session() as session, session.begin():
        stored = await session.get(Complaint, complaint.id)
        await change_status(session, core.kb, stored, "resolved", actor="staff:a", now=utcnow() - dt.timedelta(days=15))
    late = await citizen.say("", payload=f"reopen:{complaint.reference}")
    assert "more than 14 days" in late.replies[0].text
    stranger = await Citizen(dispatcher, "someone-else", "test").say("", payload=f"rate:{complaint.reference}")
    assert stranger.replies[0].text.startswith("I found no complaint")


class FlakyChannel(Channel):
    """A network that is down for the first `failures` sends; it records what it delivered."""

    name = "test"

    def __init__(self, core: Core, failures: int = 0, retryable: bool = True) -> None:
        super().__init__(core)
        self.failures = failures
        self.retryable = retryable
        self.delivered: list[tuple[str, str]] = []

    async def start(self, *, receive: bool = True) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, user_id: str, text: str, options: Sequence[Option] = ()) -> Sent:
        if self.failures:
            self.failures -= 1
            raise SendError("network down", retryable=self.retryable)
        self.delivered.append((user_id, text))
        return Sent(external_id=f"m{len(self.delivered)}")


async def _queue_one(db: Database, core: Core) -> Complaint:
    complaint = await _one_complaint(db, core)
    async with db.session() as session, session.begin():
        stored = await session.get(Complaint, complaint.id)
        await change_status(session, core.kb, stored, "in_review", actor="staff:a")
    return complaint


async def test_notification_delivered_after_channel_recovers_exactly_once(db: Database, core: Core) -> None:
    await _queue_one(db, core)
    channel = FlakyChannel(core, failures=2)
    core.channels = {"test": channel}
    now = utcnow()
    assert await deliver_due(core, now) == 0
    assert await deliver_due(core, now) == 0  # not due yet: backing off
    assert await deliver_due(core, now + dt.timedelta(seconds=11)) == 0  # second failure
    assert await deliver_due(core, now + dt.timedelta(minutes=1)) == 1
    for later in (2, 60, 600):
        assert await deliver_due(core, now + dt.timedelta(minutes=later)) == 0
    assert len(channel.delivered) == 1 and "In review" in channel.delivered[0][1]
    async with db.session() as session:
        (row,) = list(await session.exec(select(Notification)))
    assert (row.status, row.attempts, row.external_id) == ("sent", 3, "m1")


async def test_permanent_failure_is_recorded(db: Database, core: Core) -> None:
    await _queue_one(db, core)
    core.channels = {"test": FlakyChannel(core, failures=1, retryable=False)}
    await deliver_due(core)
    async with db.session() as session:
        (row,) = list(await session.exec(select(Notification)))
    assert row.status == "failed" and "network down" in (row.last_error or "")


async def test_two_senders_at_once_send_each_notification_once(db: Database, core: Core, database_url: str) -> None:
    for _ in range(20):
        await _queue_one(db, core)
    other_db = Database(database_url)
    other = Core(settings=core.settings, db=other_db, kb=core.kb, matcher=core.matcher, dispatcher=core.dispatcher)
    first, second = FlakyChannel(core), FlakyChannel(other)
    core.channels, other.channels = {"test": first}, {"test": second}
    try:
        sent = await asyncio.gather(deliver_due(core), deliver_due(other))
    finally:
        await other_db.dispose()
    assert sum(sent) == 20
    assert len(first.delivered) + len(second.delivered) == 20


async def test_abandoned_claim_is_taken_over_after_the_lease(db: Database, core: Core) -> None:
    await _queue_one(db, core)
    async with db.session() as session, session.begin():
        (row,) = list(await session.exec(select(Notification)))
        row.status, row.locked_until = "sending", utcnow() + dt.timedelta(seconds=30)  # a worker died mid-send
        session.add(row)
    channel = FlakyChannel(core)
    core.channels = {"test": channel}
    assert await deliver_due(core) == 0
    assert await deliver_due(core, utcnow() + dt.timedelta(minutes=5)) == 1
    assert len(channel.delivered) == 1
