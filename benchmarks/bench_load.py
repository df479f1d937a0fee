"""Webhook load benchmark: signed WhatsApp and Telegram webhooks against a bare endpoint of the same app.

Run: .venv/bin/python benchmarks/bench_load.py [--database sqlite|postgres] [--levels 1 10 50] [--seconds 5]
    [--rounds 3]
(wrk from Debian's packages drives the closed-loop levels: `apt-get install wrk`; --no-wrk uses Python)

One server process (uvicorn, like one web dyno) serves the real app plus a bare route that only parses the form
and returns fixed TwiML: the baseline. Telegram replies go to a local stand-in for the Bot API. Traffic goes only
to 127.0.0.1 and every level is bounded in time. Prints requests per second, p50/p99 latency, errors, the
server's peak RSS and each webhook's throughput as a share of the baseline's at the same concurrency, then each
endpoint's throughput at its busiest level. First it times the database alone (a round trip, one row's commit):
at one connection a webhook waits on those and the baseline does not, so they bound that level. At each level
the endpoints take turns for several rounds (--rounds), each webhook compared with the bare run just before it,
and the medians are printed: this machine's speed drifts too much between minutes for one run of each to compare.
Targets (issue 9): webhook throughput >= 25% of the bare endpoint (aim 40%), p99 < 100 ms at 50 concurrent
connections, zero errors, RSS < 250 MB, with SQLite and with PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_URL = "https://sahulat.example.org"
AUTH_TOKEN = "bench-auth-token"
SECRET = "bench_secret"
TOKEN = "123456:BENCH-token"
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

SERVER = """
import sys, uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from bot.app import create_app

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>ok</Message></Response>'

async def bare(request: Request) -> Response:
    await request.form()
    return Response(TWIML, media_type="application/xml")

app = create_app()
app.router.routes.append(Route("/_bare", bare, methods=["POST"]))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bot_api_stand_in(port: int) -> uvicorn.Server:
    """Answers the Bot API calls the app makes (getMe, sendMessage, ...) like Telegram would, at once."""
    message_ids = itertools.count(1)

    async def api(request: Request) -> JSONResponse:
        method = request.path_params["method"]
        if method == "getMe":
            return JSONResponse(
                {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "Sahulat", "username": "b"}}
            )
        if method == "sendMessage":
            form = (
                dict(await request.form())
                if "form" in request.headers.get("content-type", "")
                else await request.json()
            )
            result = {
                "message_id": next(message_ids),
                "date": int(time.time()),
                "chat": {"id": int(form.get("chat_id", 1)), "type": "private"},
                "text": "x",
            }
            return JSONResponse({"ok": True, "result": result})
        return JSONResponse({"ok": True, "result": True})

    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/bot{token}/{method}", api, methods=["GET", "POST"])]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    return server


class Traffic:
    """Builds one request of each kind, with fresh ids and realistic questions."""

    def __init__(self, questions: list[str]) -> None:
        self.questions = questions
        self.validator = RequestValidator(AUTH_TOKEN)
        self.update_ids = itertools.count(1)
        self.random = random.Random(1)

    def whatsapp(self, path: str = "/whatsapp/webhook") -> tuple[str, dict[str, object]]:
        user = f"92300{self.random.randrange(10**7):07d}"
        form = {
            "MessageSid": f"SM{self.random.getrandbits(128):032x}",
            "From": f"whatsapp:+{user}",
            "WaId": user,
            "Body": self.random.choice(self.questions),
            "NumMedia": "0",
            "ProfileName": "Load",
        }
        signature = self.validator.compute_signature(f"{PUBLIC_URL}{path}", form)
        return path, {"data": form, "headers": {"X-Twilio-Signature": signature}}

    def bare(self) -> tuple[str, dict[str, object]]:
        path, request = self.whatsapp("/_bare")
        return path, request

    def telegram(self) -> tuple[str, dict[str, object]]:
        update_id = next(self.update_ids)
        chat = self.random.randrange(10**6, 10**7)
        update = {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": int(time.time()),
                "text": self.random.choice(self.questions),
                "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": False, "first_name": "Load"},
            },
        }
        return "/telegram/webhook", {
            "content": json.dumps(update),
            "headers": {"X-Telegram-Bot-Api-Secret-Token": SECRET, "content-type": "application/json"},
        }


WRK_SCRIPT = """
-- One request per line: path, body, then header names and values, separated by tabs.
local requests = {}
for line in io.lines(os.getenv("BENCH_REQUESTS")) do
  local fields = {}
  for field in (line .. "\\t"):gmatch("(.-)\\t") do fields[#fields + 1] = field end
  local headers = {}
  for k = 3, #fields, 2 do headers[fields[k]] = fields[k + 1] end
  requests[#requests + 1] = {fields[1], headers, fields[2]}
end
local i = 0
request = function()
  i = i + 1
  local r = requests[(i - 1) % #requests + 1]
  return wrk.format("POST", r[1], r[2], r[3])
end
"""


def write_requests(path: Path, make, count: int) -> None:  # type: ignore[no-untyped-def]
    """Pre-build `count` signed requests (fresh ids each) for wrk to replay, one per line (a data file: a Lua
    table literal this long exceeds Lua's limit on constants)."""
    lines = []
    for _ in range(count):
        url, request = make()
        body = request.get("content") or httpx.QueryParams(request["data"]).__str__()
        headers = dict(request["headers"])
        headers.setdefault("content-type", "application/x-www-form-urlencoded")
        fields = [url, body, *(item for pair in headers.items() for item in pair)]
        if any("\t" in field or "\n" in field for field in fields):
            raise ValueError("a request field holds a tab or a new line")
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n")


async def wrk_level(base: str, requests_file: Path, script: Path, concurrency: int, seconds: float) -> dict[str, float]:
    """One closed-loop level with wrk (one thread, `concurrency` connections): C, so the client is not the limit.

    Run as a child process without blocking this event loop, which also serves the Bot API stand-in.
    """
    process = await asyncio.create_subprocess_exec(
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{seconds:g}s",
        "--latency",
        "-s",
        str(script),
        base,
        env={**os.environ, "BENCH_REQUESTS": str(requests_file)},
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=seconds + 60)
    out = stdout.decode()

    def millis(label: str) -> float:
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == label:
                value = parts[1]
                factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}
                for unit in ("us", "ms", "s"):
                    if value.endswith(unit):
                        return float(value[: -len(unit)]) * factor[unit]
        return float("nan")

    rps = next((float(line.split()[1]) for line in out.splitlines() if line.startswith("Requests/sec")), 0.0)
    errors = sum(int(line.split()[-1]) for line in out.splitlines() if "Non-2xx" in line)
    errors += sum(
        int(n)
        for line in out.splitlines()
        if line.strip().startswith("Socket errors")
        for n in __import__("re").findall(r"\d+", line)
    )
    total = next((int(line.split()[0]) for line in out.splitlines() if "requests in" in line), 0)
    return {"rps": rps, "p50": millis("50%"), "p99": millis("99%"), "errors": errors, "n": total}


async def wrk_run(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, make, work: str, script: Path, concurrency: int, args, count: int
) -> dict[str, float]:
    """One wrk level on `count` fresh message ids (a replayed id would be a cheap duplicate); counts ids replayed."""
    requests_file = Path(work) / "requests.tsv"
    write_requests(requests_file, make, count)
    r = await wrk_level(str(client.base_url).rstrip("/"), requests_file, script, concurrency, args.seconds)
    r["replayed"] = max(0, r["n"] - count)
    return r


def requests_needed(earlier: list[dict[str, float]], most: int) -> int:
    """How many requests to sign for the next run of an endpoint at a level: `most` for its first run, then half
    again what its busiest run so far used (signing 80,000 requests for every run took most of the benchmark)."""
    if not earlier:
        return most
    return min(most, max(2000, int(max(run["n"] for run in earlier) * 1.5)))


async def database_alone(url: str, tmp: str, count: int = 500) -> str:
    """What the database by itself takes for one connection's round trip and one row's durable commit: at one
    connection a webhook waits for its own commit (the bare endpoint touches no database), so this is its floor."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(Path(tmp) / "floor.db", isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # as bot.db sets it
        connection.execute("CREATE TABLE floor (id INTEGER PRIMARY KEY, at TEXT)")
        started = time.perf_counter()
        for _ in range(count):
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO floor (at) VALUES (datetime('now'))")
            connection.execute("COMMIT")
        commit = (time.perf_counter() - started) / count
        connection.close()
        return f"SQLite alone: one row's INSERT and COMMIT {commit * 1000:.3f} ms (in-process, no round trip)"
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        # A real table: a temporary one writes no WAL, so its commit would not wait for the disk.
        await connection.execute("CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, at timestamptz)")
        started = time.perf_counter()
        for _ in range(count):
            await connection.fetchval("SELECT 1")
        round_trip = (time.perf_counter() - started) / count
        started = time.perf_counter()
        for _ in range(count):  # one statement outside a transaction: INSERT and COMMIT in one round trip
            await connection.execute("INSERT INTO bench_floor (at) VALUES (now())")
        commit = (time.perf_counter() - started) / count
    finally:
        await connection.execute("DROP TABLE IF EXISTS bench_floor")
        await connection.close()
    return (
        f"PostgreSQL alone: a round trip {round_trip * 1000:.3f} ms; one row's INSERT and COMMIT {commit * 1000:.3f} ms"
        " (a webhook at one connection waits for a round trip to claim the message and for its own commit)"
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def until_idle(pid: int, limit: float = 60.0) -> None:
    """Wait (at most `limit` seconds) until the server uses under 5% of a core over half a second."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.5)
        if cpu_seconds(pid) - before < 0.025:
            return


async def level(client: httpx.AsyncClient, make, concurrency: int, seconds: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            path, request = make()
            started = time.perf_counter()
            try:
                response = await client.post(path, **request)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            errors += not ok

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    ordered = sorted(latencies)
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * (len(ordered) - 1)))],
        "errors": errors,
        "n": len(latencies),
    }


async def run(args: argparse.Namespace) -> None:
    questions = [q["q"] for q in yaml.safe_load((ROOT / "benchmarks" / "questions.yaml").read_text())["questions"]]
    api_port, app_port = free_port(), free_port()
    stand_in = await bot_api_stand_in(api_port)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db" if args.database == "sqlite" else args.postgres_url
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "PUBLIC_URL": PUBLIC_URL,
            "SECRET_KEY": "bench-" + "k" * 40,  # a public URL means production: a default key is refused
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{api_port}/bot",
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
            "OUTBOX_IN_WEB": "false",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_MESSAGES": "1000000",
        }
        subprocess.run(
            [str(ROOT / ".venv/bin/sahulat"), "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True
        )
        if args.database == "postgres":  # start from empty tables, as the SQLite run does
            subprocess.run(
                [
                    "psql",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    url.rsplit("/", 1)[1],
                    "-qc",
                    "TRUNCATE processed_message, user_profile, conversation, unanswered_question, notification CASCADE",
                ],
                check=True,
            )
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(app_port)], cwd=ROOT, env=env)
        try:
            limits = httpx.Limits(max_connections=max(args.levels), max_keepalive_connections=max(args.levels))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app_port}", limits=limits, timeout=30) as client:
                for _ in range(300):
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                traffic = Traffic(questions)
                for make in (traffic.bare, traffic.whatsapp, traffic.telegram):  # warm-up
                    await level(client, make, 4, 1.0)
                print(
                    f"database: {args.database}; one server process; {args.seconds:g} s per level; "
                    f"client: {'wrk' if args.wrk else 'python'}; {args.rounds} rounds, medians (p99: worst round)"
                )
                print(await database_alone(url, tmp))
                print(
                    f"{'endpoint':<20}{'conc':>5}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'vs bare':>9}"
                    "  (rounds)"
                )
                kinds = (
                    ("bare (form + TwiML)", traffic.bare),
                    ("whatsapp webhook", traffic.whatsapp),
                    ("telegram webhook", traffic.telegram),
                )
                best: dict[str, tuple[float, int]] = {}  # each endpoint's busiest level: median req/s, connections
                with tempfile.TemporaryDirectory() as work:
                    script = Path(work) / "replay.lua"
                    script.write_text(WRK_SCRIPT)
                    for concurrency in args.levels:
                        # The endpoints take turns, round after round, so each webhook is compared with the bare
                        # endpoint measured just before it: on a shared machine the speed drifts by tens of percent
                        # from one minute to the next.
                        runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in kinds}
                        for _ in range(args.rounds):
                            for name, make in kinds:
                                if args.wrk:
                                    count = requests_needed(runs[name], args.requests)
                                    r = await wrk_run(client, make, work, script, concurrency, args, count)
                                else:
                                    r = await level(client, make, concurrency, args.seconds)
                                runs[name].append(r)
                                # Telegram replies go out after the webhook answered: wait until they have.
                                await until_idle(server.pid)
                        bare = runs[kinds[0][0]]
                        for name, make in kinds:
                            ratios = [r["rps"] / b["rps"] for r, b in zip(runs[name], bare, strict=True)]
                            r = {
                                "rps": statistics.median(x["rps"] for x in runs[name]),
                                "p50": statistics.median(x["p50"] for x in runs[name]),
                                "p99": max(x["p99"] for x in runs[name]),
                                "errors": sum(x["errors"] for x in runs[name]),
                            }
                            best[name] = max(best.get(name, (0.0, 0)), (r["rps"], concurrency))
                            # A replayed id is a cheap duplicate for a webhook; the bare endpoint keeps no ids.
                            replayed = sum(x.get("replayed", 0) for x in runs[name]) if make != traffic.bare else 0
                            print(
                                f"{name:<20}{concurrency:>5}{r['rps']:>9.0f}{r['p50']:>9.1f}{r['p99']:>9.1f}"
                                f"{r['errors']:>8.0f}{statistics.median(ratios):>8.0%}"
                                f"  ({', '.join(f'{x:.0%}' for x in ratios)})"
                                + (f"  ({replayed:.0f} ids replayed: raise --requests)" if replayed else "")
                            )
                # Throughput: how much work per second each endpoint can take, at whichever level it does most.
                bare_best, bare_at = best[kinds[0][0]]
                webhooks = (
                    f"{name} {best[name][0]:.0f} at {best[name][1]} ({best[name][0] / bare_best:.0%})"
                    for name, _ in kinds[1:]
                )
                print(
                    f"throughput (busiest level): bare {bare_best:.0f} req/s at {bare_at} connections; "
                    + "; ".join(webhooks)
                )
            print(f"server peak RSS: {peak_rss_mb(server.pid):.0f} MB")
        finally:
            server.terminate()
            server.wait(timeout=30)
    stand_in.should_exit = True
    await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=POSTGRES)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3, help="turns of the endpoints at each level (medians)")
    parser.add_argument(
        "--requests", type=int, default=80000, help="pre-signed requests for an endpoint's first run at a level (wrk)"
    )
    parser.add_argument("--no-wrk", dest="wrk", action="store_false", help="use the Python client instead of wrk")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
