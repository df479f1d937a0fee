"""A per-client request limit kept in this process's memory, for anonymous public reads (Open311).

Anyone may read the Open311 lists, so one client must not be able to keep the process busy rendering them (issue
20, finding 13). Counted per address in fixed windows; memory is bounded by forgetting the oldest clients. Each web
process counts on its own, so a client may make up to `limit` times the number of processes: a cap on load, not
an exact quota.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_CLIENTS = 10_000


class ClientRateLimit:
    """At most `limit` requests per client address in each `window_seconds`."""

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self.max_clients = max_clients
        self._windows: dict[str, tuple[float, int]] = {}  # client -> (window start, requests in it)

    def allow(self, client: str) -> bool:
        now = self.clock()
        start, count = self._windows.pop(client, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        self._windows[client] = (start, count + 1)  # re-inserted: the dict stays oldest-first
        while len(self._windows) > self.max_clients:
            del self._windows[next(iter(self._windows))]
        return count < self.limit
