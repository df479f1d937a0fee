"""The ASGI app: health check with the database up and down."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

import bot.app
from bot.app import create_app
from bot.core import build_core
from bot.settings import Settings

from .conftest import FREEZE_HEAP_IN_PRODUCTION


def test_healthz_ok(database_url: str, settings: Settings, knowledge) -> None:  # type: ignore[no-untyped-def]
    core = build_core(settings, database_url=database_url, knowledge=knowledge)
    with TestClient(create_app(settings, knowledge=knowledge, core=core)) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["knowledge_entries"] == len(knowledge[0].entries)


def test_healthz_503_when_database_unreachable(settings: Settings, knowledge) -> None:  # type: ignore[no-untyped-def]
    down = settings.model_copy(update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"})
    with TestClient(create_app(down, knowledge=knowledge)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["database"] == "unreachable"  # the error itself goes to the log, not to anyone asking


def test_a_page_that_meets_a_database_failure_gets_503_and_a_sentence(settings: Settings, knowledge) -> None:  # type: ignore[no-untyped-def]
    down = settings.model_copy(update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"})
    with TestClient(create_app(down, knowledge=knowledge), raise_server_exceptions=False) as client:
        response = client.get("/open311/v2/requests.json")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.text == "The database is unavailable just now. Please try again in a moment."


def test_what_start_up_loaded_is_kept_out_of_the_garbage_collectors_scans(
    database_url: str,
    settings: Settings,
    knowledge,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    assert FREEZE_HEAP_IN_PRODUCTION is True
    monkeypatch.setattr(bot.app, "freeze_heap_at_startup", True)  # the rest of the suite skips it (conftest)
    kb, matcher = knowledge
    core = build_core(settings, database_url=database_url, knowledge=knowledge)
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(settings, knowledge=knowledge, core=core)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 0
        tracked = {id(obj) for obj in gc.get_objects()}  # the generations the collector scans
        assert id(kb.entries) not in tracked and id(matcher) not in tracked
    assert gc.get_freeze_count() == 0  # let go at shutdown
