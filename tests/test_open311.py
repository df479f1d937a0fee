"""Open311 GeoReport v2, through an existing client library (georeport) and plain HTTP, in JSON and XML."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
import xmltodict
from georeport import GeoReport

from bot.app import create_app
from bot.db import Database
from bot.domain.complaints import Draft, add_note, change_status, file_complaint
from bot.domain.routing import seed_defaults
from bot.domain.routing_data import load_routing
from bot.models import Complaint, utcnow
from bot.open311 import reads
from bot.open311.keys import add_key
from bot.open311.reads import DEFAULT_PAGE_SIZE
from bot.settings import Settings

from .conftest import sahulat, serve

PERSONAL = ("Ayesha Khan", "+923001234567", "citizen-42")
PHOTO = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
# What a chat citizen shared or was told: never published (their exact location, photo, a note naming staff).
NEVER_PUBLISHED = ("34.21873", "72.05311", PHOTO, "+923009998877", "Ayesha, we fixed it")


async def _seed(url: str, settings: Settings, knowledge) -> dict[str, str]:  # type: ignore[no-untyped-def]
    kb, _ = knowledge
    db = Database(url)
    try:
        async with db.session() as session, session.begin():
            await seed_defaults(session, load_routing(settings.knowledge_dir))  # as the app does on first start
            key = await add_key(session, "city-portal")
            open_one = await file_complaint(
                session,
                Draft(
                    channel="whatsapp",
                    user_id=PERSONAL[2],
                    display_name=PERSONAL[0],
                    category="pseb_registration",
                    district="mardan",
                    description="Registration pending for three months",
                    answers={"applicant": "startup"},
                    attachments=[{"kind": "photo", "ref": PHOTO, "content_type": "image/jpeg"}],
                    latitude=34.21873,
                    longitude=72.05311,
                ),
            )
            closed = await file_complaint(
                session,
                Draft(
                    channel="telegram",
                    user_id=PERSONAL[1],
                    category="park_facilities",
                    district="swat",
                    description="No power at the park since Monday",
                ),
            )
            await add_note(
                session,
                kb,
                closed,
                "Generator repaired; call Amna on +923009998877",
                actor="staff:amna",
                public=True,
                published="Generator repaired",
            )
            await add_note(session, kb, closed, "Ayesha, we fixed it", actor="staff:amna", public=True)
            await add_note(session, kb, closed, "Caller was rude", actor="staff:amna", public=False)
            await change_status(session, kb, closed, "resolved", actor="staff:amna")
            old = await file_complaint(
                session,
                Draft(
                    channel="telegram",
                    user_id="u3",
                    category="other",
                    district="quetta",
                    description="an old problem here",
                ),
                now=utcnow() - dt.timedelta(days=120),
            )
            erased = await file_complaint(
                session,
                Draft(
                    channel="telegram",
                    user_id="u4",
                    category="other",
                    district="other",
                    district_text="Chak 5",
                    description="My name is Ayesha Khan and my number is +923001234567",
                ),
            )
            erased.erased_at = utcnow()
            session.add(erased)
        return {
            "key": key,
            "open": open_one.reference,
            "closed": closed.reference,
            "old": old.reference,
            "erased": erased.reference,
        }
    finally:
        await db.dispose()


@pytest.fixture
def api(database_url: str, settings: Settings, knowledge) -> Iterator[tuple[str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    seeded = asyncio.run(_seed(database_url, settings, knowledge))
    app_settings = settings.model_copy(update={"database_url": database_url, "outbox_in_web": False})
    with serve(create_app(app_settings, knowledge=knowledge)) as base:
        yield f"{base}/open311/v2", seeded


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_services_and_definitions_through_a_client_library(api, fmt: str) -> None:  # type: ignore[no-untyped-def]
    root, _ = api
    client = GeoReport(root, output_format=fmt)
    services = client.get_service_list()
    codes = [s["service_code"] for s in services]
    assert codes == ["park_facilities", "pseb_registration", "programme", "e_service", "other"]
    registration = services[1]
    assert registration["service_name"] == "PSEB registration"
    assert str(registration["metadata"]).lower() == "true" and registration["type"] == "realtime"
    definition = client.get_service_definition("pseb_registration")
    attributes = definition["attributes"] if fmt == "json" else definition["attributes"]["attribute"]
    attribute = attributes[0] if fmt == "json" else attributes
    assert attribute["code"] == "applicant" and str(attribute["required"]).lower() == "true"
    assert attribute["datatype"] == "singlevaluelist"
    values = attribute["values"] if fmt == "json" else attribute["values"]["value"]
    assert [v["key"] for v in values] == ["startup", "company", "freelancer"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_requests_listed_and_fetched_without_personal_data(api, fmt: str) -> None:  # type: ignore[no-untyped-def]
    root, seeded = api
    client = GeoReport(root, output_format=fmt)
    listed = client.get_service_requests()
    listed = listed if isinstance(listed, list) else [listed]
    by_id = {r["service_request_id"]: r for r in listed}
    assert set(by_id) == {seeded["open"], seeded["closed"], seeded["erased"]}  # the 120-day-old one is outside 90 days
    closed = client.get_service_request(seeded["closed"])
    assert closed["status"] == "closed" and closed["status_notes"] == "Generator repaired"
    assert closed["agency_responsible"] == "Pakistan Software Export Board (PSEB)"  # its body's name
    assert closed["address"] == "Swat"
    assert closed["requested_datetime"].endswith("Z")
    opened = by_id[seeded["open"]]
    assert opened["status"] == "open" and opened["service_code"] == "pseb_registration"
    assert float(opened["lat"]) == 34.2 and float(opened["long"]) == 72.04  # Mardan's centre, not the citizen's
    assert not opened.get("media_url")
    erased = by_id[seeded["erased"]]
    assert erased["description"] == "This complaint was erased at the citizen's request."
    raw = requests.get(f"{root}/requests.{fmt}", timeout=10).text
    raw += requests.get(f"{root}/requests/{seeded['open']}.{fmt}", timeout=10).text
    for personal in (*PERSONAL, *NEVER_PUBLISHED, "Caller was rude", "Chak 5"):
        assert personal not in raw


def test_request_filters(api) -> None:  # type: ignore[no-untyped-def]
    root, seeded = api
    client = GeoReport(root)
    assert [r["service_request_id"] for r in client.get_service_requests(status="closed")] == [seeded["closed"]]
    assert {r["service_request_id"] for r in client.get_service_requests(status="open")} == {
        seeded["open"],
        seeded["erased"],
    }
    assert [r["service_request_id"] for r in client.get_service_requests(service_code="park_facilities")] == [
        seeded["closed"]
    ]
    both = client.get_service_requests(service_request_id=f"{seeded['old']},{seeded['open']}")
    assert {r["service_request_id"] for r in both} == {seeded["old"], seeded["open"]}  # ids override the window
    old_window = client.get_service_requests(
        start_date=w3(utcnow() - dt.timedelta(days=130)), end_date=w3(utcnow() - dt.timedelta(days=100))
    )
    assert [r["service_request_id"] for r in old_window] == [seeded["old"]]


def w3(value: dt.datetime) -> str:
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/services/potholes.json", 404, "service_code 'potholes' not found"),
        ("/services/potholes.xml", 404, "service_code 'potholes' not found"),
        ("/requests/CMP-1999-000001.json", 404, "not found"),
        ("/requests.json?start_date=yesterday", 400, "start_date must be a W3C date-time"),
        ("/requests.xml?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", 400, "90 days"),
        ("/requests.json?status=pending", 400, "status must be open or closed"),
        ("/requests.json?start_date=9999-12-31T00:00:00Z", 400, "start_date must be between"),
        ("/requests.xml?end_date=0001-01-01T00:00:00%2B05:00", 400, "end_date must be between"),
        ("/requests.json?start_date=0001-01-01T00:00:00Z&end_date=0001-01-02T00:00:00Z", 400, "must be between"),
        ("/services.csv", 404, "format 'csv' is not supported"),
    ],
)
def test_errors_in_the_spec_format(api, path: str, status: int, fragment: str) -> None:  # type: ignore[no-untyped-def]
    root, _ = api
    response = httpx.get(root + path, timeout=10)
    assert response.status_code == status
    if ".xml" in path:
        error = xmltodict.parse(response.content)["errors"]["error"]
        assert response.headers["content-type"].startswith("text/xml")
    else:
        (error,) = response.json()
    assert int(error["code"]) == status and fragment in error["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_files_a_complaint(api, fmt: str, database_url: str) -> None:  # type: ignore[no-untyped-def]
    root, seeded = api
    form = {
        "api_key": seeded["key"],
        "service_code": "pseb_registration",
        "address_string": "Faisalabad, Punjab",
        "description": "Our startup registration has not been processed",
        "attribute[applicant]": "startup",
        "first_name": "Ayesha",
        "phone": "+923001234567",
    }
    response = httpx.post(f"{root}/requests.{fmt}", data=form, timeout=10)
    assert response.status_code == 201
    created = response.json()[0] if fmt == "json" else xmltodict.parse(response.content)["service_requests"]["request"]
    reference = created["service_request_id"]
    assert reference.startswith("CMP-")
    fetched = GeoReport(root).get_service_request(reference)
    assert fetched["address"] == "Faisalabad" and fetched["status"] == "open"

    async def stored() -> Complaint:
        db = Database(database_url)
        async with db.session() as session:
            from sqlmodel import select

            row = (await session.exec(select(Complaint).where(Complaint.reference == reference))).one()
        await db.dispose()
        return row

    row = asyncio.run(stored())
    assert (row.channel, row.user_id, row.answers) == ("open311", "key:city-portal", {"applicant": "startup"})
    assert row.display_name is None  # personal fields sent to the API are not kept


@pytest.mark.parametrize(
    ("change", "status", "fragment"),
    [
        ({"api_key": None}, 403, "api_key is required"),
        ({"api_key": "not-a-key"}, 403, "api_key is not valid"),
        ({"api_key": "not-a-key", "service_code": "potholes"}, 403, "api_key is not valid"),  # the key comes first
        ({"service_code": "potholes"}, 400, "service_code 'potholes' not found"),
        ({"attribute[applicant]": None}, 400, "attribute[applicant] is required"),
        ({"attribute[applicant]": "alien"}, 400, "attribute[applicant] must be one of"),
        ({"address_string": None}, 400, "a location is required"),
        ({"description": "help"}, 400, "description is required"),
        ({"lat": "north", "address_string": None, "long": "72"}, 400, "lat must be a number"),
    ],
)
def test_post_errors(api, change: dict[str, str | None], status: int, fragment: str) -> None:  # type: ignore[no-untyped-def]
    root, seeded = api
    form: dict[str, str | None] = {
        "api_key": seeded["key"],
        "service_code": "pseb_registration",
        "address_string": "Mardan",
        "description": "Our startup registration has not been processed",
        "attribute[applicant]": "startup",
        **change,
    }
    response = httpx.post(f"{root}/requests.json", data={k: v for k, v in form.items() if v is not None}, timeout=10)
    assert response.status_code == status
    assert fragment in response.json()[0]["description"]


def _chunked(total: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A form body sent chunked (no Content-Length): `total` bytes of one field."""
    yield b"description="
    for _ in range(total // chunk):
        yield b"a" * chunk


@pytest.mark.parametrize("key", [None, "not-a-key", "valid"])
def test_post_body_is_limited_as_it_streams_in(api, key: str | None) -> None:  # type: ignore[no-untyped-def]
    root, seeded = api
    params = {"api_key": seeded["key"] if key == "valid" else key} if key else {}
    response = httpx.post(
        f"{root}/requests.json",
        params=params,
        content=_chunked(4 * 1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    if key == "not-a-key":  # refused before the body is read
        assert response.status_code == 403 and "api_key is not valid" in response.json()[0]["description"]
    else:
        assert response.status_code == 413 and "too large" in response.json()[0]["description"]


def test_post_by_coordinates_picks_the_nearest_district(api) -> None:  # type: ignore[no-untyped-def]
    root, seeded = api
    form = {
        "api_key": seeded["key"],
        "service_code": "other",
        "lat": "24.86",
        "long": "67.01",
        "description": "The e-service counter was closed all week",
    }
    created = httpx.post(f"{root}/requests.json", data=form, timeout=10).json()[0]
    assert GeoReport(root).get_service_request(created["service_request_id"])["address"] == "Karachi"


def test_key_cli_add_list_revoke(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"
    from bot.migrate import upgrade

    upgrade(url)
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        code, out, err = sahulat("open311", "key", *args, env=env)
        return subprocess.CompletedProcess(["sahulat", "open311", "key", *args], code, out, err)

    added = run("add", "city-portal")
    assert added.returncode == 0 and "shown once" in added.stdout
    key = added.stdout.strip().splitlines()[-1]
    assert len(key) >= 24
    assert run("add", "city-portal").returncode == 1
    assert "city-portal\tactive" in run("list").stdout
    assert key not in run("list").stdout
    assert run("revoke", "city-portal").returncode == 0
    assert "city-portal\trevoked" in run("list").stdout
    assert run("revoke", "nobody").returncode == 1


def test_a_control_character_does_not_break_the_xml_feed(api) -> None:  # type: ignore[no-untyped-def]
    root, seeded = api
    form = {
        "api_key": seeded["key"],
        "service_code": "other",
        "address_string": "Mardan",
        "description": "The counter\x01 was \x1bclosed all week\ufffe",
    }
    created = httpx.post(f"{root}/requests.json", data=form, timeout=10)
    assert created.status_code == 201
    reference = created.json()[0]["service_request_id"]
    feed = xmltodict.parse(httpx.get(f"{root}/requests.xml", timeout=10).content)["service_requests"]["request"]
    (filed,) = [r for r in feed if r["service_request_id"] == reference]
    assert filed["description"] == "The counter was closed all week"
    as_json = httpx.get(f"{root}/requests/{reference}.json", timeout=10).json()[0]
    assert as_json["description"].startswith("The counter\x01")  # JSON carries it escaped


def test_requests_come_in_small_pages(api, database_url: str) -> None:  # type: ignore[no-untyped-def]
    root, seeded = api

    async def file_many() -> None:
        db = Database(database_url)
        try:
            async with db.session() as session, session.begin():
                for n in range(DEFAULT_PAGE_SIZE + 5):
                    text = f"complaint number {n} here"
                    draft = Draft(
                        channel="telegram", user_id=f"p{n}", category="other", district="swat", description=text
                    )
                    await file_complaint(session, draft, now=utcnow() - dt.timedelta(days=1, seconds=-n))
        finally:
            await db.dispose()

    asyncio.run(file_many())
    first = httpx.get(f"{root}/requests.json", timeout=10).json()
    assert len(first) == DEFAULT_PAGE_SIZE  # of the 58 in the last 90 days, newest first
    assert first[3]["description"] == f"complaint number {DEFAULT_PAGE_SIZE + 4} here"
    rest = httpx.get(f"{root}/requests.json", params={"page": "2"}, timeout=10).json()
    assert len(rest) == 8
    assert not {r["service_request_id"] for r in first} & {r["service_request_id"] for r in rest}
    two = httpx.get(f"{root}/requests.json", params={"page_size": "2"}, timeout=10).json()
    assert [r["service_request_id"] for r in two] == [r["service_request_id"] for r in first[:2]]
    for bad in ({"page_size": "100000"}, {"page_size": "0"}, {"page": "x"}):
        response = httpx.get(f"{root}/requests.json", params=bad, timeout=10)
        assert response.status_code == 400 and "must be a whole number" in response.json()[0]["description"]


def test_a_page_of_requests_is_built_off_the_event_loop(api, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Anyone may ask for pages of requests; building one on the event loop held up every webhook meanwhile."""
    root, _ = api
    on_loop: list[bool] = []
    build = reads.request_entry

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:  # no event loop runs in this thread
            on_loop.append(False)
        return build(*args, **kwargs)

    monkeypatch.setattr(reads, "request_entry", watched)
    for fmt in ("json", "xml"):
        assert httpx.get(f"{root}/requests.{fmt}", timeout=10).status_code == 200
    assert on_loop and not any(on_loop)


def test_a_place_a_chat_citizen_typed_is_not_published(api, database_url: str) -> None:  # type: ignore[no-untyped-def]
    """For an unlisted place the citizen types what they like ("House 12, Street 5"): it stays private."""
    root, _ = api

    async def file_one() -> str:
        db = Database(database_url)
        try:
            async with db.session() as session, session.begin():
                draft = Draft(
                    channel="whatsapp",
                    user_id="923001112233",
                    category="other",
                    district="other",
                    district_text="House 12, Street 5, Chak 9",
                    description="the centre was closed all week",
                )
                return (await file_complaint(session, draft)).reference
        finally:
            await db.dispose()

    reference = asyncio.run(file_one())
    for fmt in ("json", "xml"):
        raw = httpx.get(f"{root}/requests/{reference}.{fmt}", timeout=10).text
        raw += httpx.get(f"{root}/requests.{fmt}", timeout=10).text
        assert "House 12" not in raw
