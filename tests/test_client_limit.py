"""The per-client limit on anonymous Open311 reads: counted per address in windows, with bounded memory."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.app import create_app
from bot.client_limit import ClientRateLimit
from bot.settings import Settings

from .conftest import serve
from .test_open311 import _seed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_address_has_its_own_window() -> None:
    clock = Clock()
    limit = ClientRateLimit(3, 60, clock=clock)
    assert [limit.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limit.allow("b")  # another address is counted apart
    clock.now += 60
    assert limit.allow("a")  # a new window


def test_memory_is_bounded_by_forgetting_the_oldest_clients() -> None:
    limit = ClientRateLimit(1, 60, clock=Clock(), max_clients=100)
    clients = [f"10.0.{n // 256}.{n % 256}" for n in range(1000)]
    assert all(limit.allow(client) for client in clients)
    assert not limit.allow(clients[-1])  # the newest are remembered
    assert limit.allow(clients[0])  # the oldest forgotten: a flood of addresses cannot grow memory without end


@pytest.mark.parametrize("path", ["/requests.json", "/requests.xml"])
def test_open311_reads_beyond_the_limit_get_429(  # type: ignore[no-untyped-def]
    database_url: str, settings: Settings, knowledge, path: str
) -> None:
    asyncio.run(_seed(database_url, settings, knowledge))
    app_settings = settings.model_copy(
        update={"database_url": database_url, "outbox_in_web": False, "open311_requests_per_minute": 3}
    )
    with serve(create_app(app_settings, knowledge=knowledge)) as base:
        codes = [httpx.get(f"{base}/open311/v2{path}", timeout=10).status_code for _ in range(4)]
        refused = httpx.get(f"{base}/open311/v2/requests/CMP-2026-000001.json", timeout=10)
        services = httpx.get(f"{base}/open311/v2/services.json", timeout=10)
    assert codes == [200, 200, 200, 429]
    assert refused.status_code == 429 and "too many requests" in refused.json()[0]["description"]
    assert services.status_code == 200  # the catalogue is not limited
