"""Routing: the defaults as checked data, the most specific rule, the Unrouted queue, admins' changes, deadlines."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest
import yaml
from sqlmodel import col, select

from bot.db import Database
from bot.domain import routing
from bot.domain.complaints import Draft, file_complaint
from bot.domain.deadlines import PKT, add_working_days, due_state, local_due
from bot.domain.routing_data import RoutingDataError, load_routing, parse_routing
from bot.models import Complaint, ComplaintEvent, RoutingRule
from bot.settings import Settings

CODES = ("park_facilities", "pseb_registration", "programme", "e_service", "other")


@pytest.fixture(scope="module")
def data(settings: Settings):  # type: ignore[no-untyped-def]
    return load_routing(settings.knowledge_dir)


# -- the data files ------------------------------------------------------------------------------------


def test_defaults_follow_the_sources(data) -> None:  # type: ignore[no-untyped-def]
    assert {b.id for b in data.bodies} == {"pseb", "kpitb", "pitb"}
    rules = [
        RoutingRule(category=r.category, province=r.province, district=r.district, body_id=r.body) for r in data.rules
    ]
    assert routing.match(rules, "park_facilities", "Sindh", "karachi") == "pseb"
    assert routing.match(rules, "pseb_registration", None, "other") == "pseb"
    assert routing.match(rules, "programme", "Khyber Pakhtunkhwa", "mardan") == "kpitb"
    assert routing.match(rules, "e_service", "Punjab", "lahore") == "pitb"
    assert routing.match(rules, "programme", "Sindh", "karachi") is None  # the sources name nobody: unrouted
    assert routing.match(rules, "other", "Punjab", "lahore") is None
    assert data.deadlines.working_days("other") == 20


def test_the_most_specific_rule_wins() -> None:
    rules = [
        RoutingRule(category="other", body_id="a"),
        RoutingRule(category="other", province="Punjab", body_id="b"),
        RoutingRule(category="other", province="Punjab", district="lahore", body_id="c"),
    ]
    assert routing.match(rules, "other", "Punjab", "lahore") == "c"
    assert routing.match(rules, "other", "Punjab", "multan") == "b"
    assert routing.match(rules, "other", "Sindh", "karachi") == "a"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rules": [{"category": "other", "body": "nobody"}]}, "routing.yaml: rules[0]: unknown body 'nobody'"),
        ({"rules": [{"category": "typo", "body": "pseb"}]}, "routing.yaml: rules[0]: unknown category 'typo'"),
        ({"rules": [{"category": "other", "body": "pseb", "province": "Narnia"}]}, "unknown province 'Narnia'"),
        ({"bodies": [{"id": "Bad Id", "name": {"en": "x", "ur": "x", "roman": "x"}}]}, "bodies[0] (Bad Id): id"),
        ({"deadlines": {"default_working_days": 0}}, "routing.yaml: deadlines: default_working_days"),
        ({"deadlines": {"categories": {"typo": 5}}}, "routing.yaml: deadlines: categories: unknown category 'typo'"),
        ({"deadlines": {"categories": {"other": 0}}}, "deadlines: categories: other: working days must be 1 to 365"),
    ],
)
def test_a_bad_file_is_refused_naming_file_and_entry(change: dict, message: str) -> None:  # type: ignore[type-arg]
    raw = {"bodies": [{"id": "pseb", "name": {"en": "P", "ur": "پ", "roman": "P"}}], "rules": [], **change}
    with pytest.raises(RoutingDataError, match=re.escape(message)):
        parse_routing(raw, {"holidays": []}, categories=CODES, provinces=("Punjab",))


def test_a_bad_holiday_is_refused() -> None:
    with pytest.raises(RoutingDataError, match=r"holidays.yaml: holidays\[1\]: date"):
        holidays = [{"date": "2026-08-14", "name": "x"}, {"date": "soon", "name": "y"}]
        parse_routing({"bodies": [], "rules": []}, {"holidays": holidays})


def test_the_real_files_load_from_a_copy(tmp_path: Path, settings: Settings) -> None:
    for name in ("routing.yaml", "holidays.yaml", "services.yaml", "places.yaml"):
        (tmp_path / name).write_text((settings.knowledge_dir / name).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "routing.yaml").write_text("bodies: {}\n", encoding="utf-8")
    with pytest.raises(RoutingDataError, match="routing.yaml: 'bodies' must be a list"):
        load_routing(tmp_path)


# -- deadlines -----------------------------------------------------------------------------------------


def at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=PKT).astimezone(dt.UTC)


def test_working_days_skip_weekends_and_holidays(data) -> None:  # type: ignore[no-untyped-def]
    # Monday 2026-08-10: Tue 11, Wed 12, Thu 13, (Fri 14 Independence Day), Mon 17 is the 4th working day.
    due = add_working_days(at("2026-08-10"), 4, data.holidays)
    assert local_due(due) == "2026-08-17"
    assert due == dt.datetime(2026, 8, 17, 19, 0, tzinfo=dt.UTC)  # midnight after, Pakistan time, in UTC
    # Filed on a Saturday: counting starts on Monday.
    assert local_due(add_working_days(at("2026-08-08"), 1, data.holidays)) == "2026-08-10"
    # Filed late on Sunday evening in Pakistan (still Sunday afternoon in UTC): Monday is the first day.
    assert local_due(add_working_days(at("2026-08-09", 23), 1, data.holidays)) == "2026-08-10"
    # Filed at 01:00 on Monday in Pakistan, which is Sunday in UTC: the local day counts, so Tuesday.
    assert local_due(add_working_days(at("2026-08-10", 1), 1, data.holidays)) == "2026-08-11"
    # Across Eid ul Fitr 2026 (20-22 March, approximate) and Pakistan Day (Monday 23 March).
    assert local_due(add_working_days(at("2026-03-19"), 1, data.holidays)) == "2026-03-24"
    # The default: 20 working days from 2026-12-01, across Quaid-e-Azam Day (Friday 25 December).
    assert local_due(add_working_days(at("2026-12-01"), 20, data.holidays)) == "2026-12-30"


def test_due_states() -> None:
    due = dt.datetime(2026, 8, 17, 19, tzinfo=dt.UTC)
    soon = dt.timedelta(days=3)
    assert due_state(due, due - dt.timedelta(days=4), soon) == "on_time"
    assert due_state(due, due - dt.timedelta(days=2), soon) == "due_soon"
    assert due_state(due, due, soon) == "overdue"
    assert due_state(None, due, soon) is None


# -- filing and admins' changes, on both databases -----------------------------------------------------


async def _file(db: Database, category: str, district: str, province: str | None, now: dt.datetime) -> Complaint:
    draft = Draft(channel="test", user_id="u", category=category, district=district, description="x", province=province)
    async with db.session() as session, session.begin():
        return await file_complaint(session, draft, now)


async def _events(db: Database, complaint: Complaint) -> list[ComplaintEvent]:
    async with db.session() as session:
        query = select(ComplaintEvent).where(ComplaintEvent.complaint_id == complaint.id)
        return list(await session.exec(query.order_by(col(ComplaintEvent.id))))


async def test_filing_routes_and_sets_the_due_time(db: Database, data) -> None:  # type: ignore[no-untyped-def]
    async with db.session() as session, session.begin():
        assert await routing.seed_defaults(session, data)
        assert not await routing.seed_defaults(session, data)  # only on first start
    now = at("2026-08-10")
    park = await _file(db, "programme", "mardan", "Khyber Pakhtunkhwa", now)
    assert park.body_id == "kpitb"
    # 20 working days: 14 and 26 August are holidays
    assert park.due_at is not None and local_due(park.due_at) == "2026-09-09"
    lost = await _file(db, "programme", "karachi", "Sindh", now)
    assert lost.body_id is None  # filed all the same, in the Unrouted queue
    assert [(e.kind, e.note) for e in await _events(db, lost)] == [
        ("filed", "no routing rule matches: waiting in the Unrouted queue")
    ]


async def test_a_category_with_its_own_deadline_gets_that_due_time(  # type: ignore[no-untyped-def]
    db: Database, data, tmp_path: Path, settings: Settings
) -> None:
    for name in ("routing.yaml", "holidays.yaml", "services.yaml", "places.yaml"):
        (tmp_path / name).write_text((settings.knowledge_dir / name).read_text(encoding="utf-8"), encoding="utf-8")
    raw = yaml.safe_load((tmp_path / "routing.yaml").read_text(encoding="utf-8"))
    raw["deadlines"]["categories"] = {"pseb_registration": 5}
    (tmp_path / "routing.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    own = load_routing(tmp_path)
    assert own.deadlines.working_days("pseb_registration") == 5 and own.deadlines.working_days("other") == 20
    async with db.session() as session, session.begin():
        await routing.seed_defaults(session, data)
    now = at("2026-08-10")
    drafts = [
        Draft(channel="test", user_id="u", category=c, district="lahore", description="x", province="Punjab")
        for c in ("pseb_registration", "other")
    ]
    async with db.session() as session, session.begin():
        quick, usual = [await file_complaint(session, d, now, routing=own) for d in drafts]
    # 5 working days from Monday 10 August: 11, 12, 13, (14 Independence Day), 17, 18
    assert quick.due_at is not None and local_due(quick.due_at) == "2026-08-18"
    assert usual.due_at is not None and local_due(usual.due_at) == "2026-09-09"  # the default 20


async def test_admins_add_bodies_and_rules_and_reroute(db: Database, data) -> None:  # type: ignore[no-untyped-def]
    async with db.session() as session, session.begin():
        await routing.seed_defaults(session, data)
        await routing.add_body(session, "sindh_itb", "Sindh IT Board", "سندھ آئی ٹی بورڈ", "Sindh", "it@example.org")
        await routing.add_rule(session, "programme", "Sindh", None, "sindh_itb", categories=CODES)
        with pytest.raises(routing.RoutingError, match="exists already"):
            await routing.add_rule(session, "programme", "Sindh", "", "sindh_itb", categories=CODES)
        with pytest.raises(routing.RoutingError, match="exists already"):
            await routing.add_body(session, "sindh_itb", "x", "x", None, None)
        with pytest.raises(routing.RoutingError, match="not an e-mail"):
            await routing.add_body(session, "x", "x", "x", None, "nope")
        with pytest.raises(routing.RoutingError, match="unknown category"):
            await routing.add_rule(session, "typo", None, None, "pseb", categories=CODES)
    complaint = await _file(db, "programme", "karachi", "Sindh", at("2026-08-10"))
    assert complaint.body_id == "sindh_itb"
    async with db.session() as session, session.begin():
        with pytest.raises(routing.RoutingError, match="1 complaint: re-route them first"):
            await routing.delete_body(session, "sindh_itb")
    async with db.session() as session, session.begin():
        found = await session.get(Complaint, complaint.id)
        assert found is not None
        with pytest.raises(routing.RoutingError, match="needs a reason"):
            await routing.reroute(session, found, "pseb", reason=" ", actor="staff:admin")
        await routing.reroute(session, found, "pseb", reason="a park, not a programme", actor="staff:admin")
    assert (await _events(db, complaint))[-1].note == "sindh_itb → pseb: a park, not a programme"
    async with db.session() as session, session.begin():
        await routing.delete_body(session, "sindh_itb")  # nothing points at it now; its rule goes with it
    async with db.session() as session:
        assert "sindh_itb" not in await routing.names(session)
        assert all(r.body_id != "sindh_itb" for r in await session.exec(select(RoutingRule)))


async def test_two_processes_starting_at_once_copy_the_defaults_once(db: Database, data, database_url: str) -> None:  # type: ignore[no-untyped-def]
    await asyncio.gather(routing.seed_on_start(database_url, data), routing.seed_on_start(database_url, data))
    async with db.session() as session:
        assert sorted(await routing.names(session)) == ["kpitb", "pitb", "pseb"]
        assert len(list(await session.exec(select(RoutingRule)))) == len(data.rules)
