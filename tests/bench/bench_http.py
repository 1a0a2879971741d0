"""Balance reads over HTTP on PostgreSQL, next to a bare Starlette JSON endpoint.

    python -m tests.bench.bench_http --persons 10000 [--workers 2] [--seconds 20]
        [--connections 64] [--database-url postgresql://...?schema=s --skip-load]

Starts its own PostgreSQL (unless --database-url), loads the demo careers of `--persons`
persons through the ledger and projects them, starts `cpa-ledger serve --workers W` and a bare
Starlette app under the same uvicorn settings, and drives each with `wrk` (a second process,
installed with apt-get when missing, as root) for `--seconds`: random persons,
GET /v1/persons/{person}/balances with a read token, first with `as_of` (a date: the account
document and one index lookup of the running totals on every read), then, after storing
today's document of every person, without it (today's cached document: one primary-key
lookup). Prints requests/s and p50/p99 latency of each and of the bare app (a JSON document;
and the stored document read by Starlette and psycopg_pool alone: what this machine allows a
cached read), then where one balance read spends its time: the service's /healthz (the HTTP
stack without the store) measured the same way, and a cProfile of the computed read
in-process. `tests.bench.scale` reuses `measure_service`, `measure_bare` and
`measure_bare_database`.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import schemas
from deploy.local import postgres as local_postgres
from ledger import ingest
from ledger.demo import DemoSettings, generate
from ledger.http.readpool import conninfo_of
from ledger.http.responses import JSONResponse
from ledger.http.service import LedgerService
from ledger.http.settings import HttpSettings
from ledger.identity import normalise
from projections.documents import select_cached
from projections.runner import Runner, live_names
from projections.schema import Names
from tests.http import server as servers

WRK_THREADS = 2
PROFILED_READS = 2_000
PROFILE_LINES = 14
BARE_PATH = "/bare"
BARE_DATABASE_PATH = "/bare-db"
BARE_APP = "tests.bench.bench_http:bare_app"
# The store the bare app's PostgreSQL lookup reads (unset: no such route).
BARE_DATABASE_VARIABLE = "CPA_BENCH_BARE_DATABASE_URL"
BARE_DATABASE_CONNECTIONS = 8
BARE_DOCUMENT: dict[str, object] = {
    "person": "184037512345690", "as_of": "2026-01-01", "known_at": None, "status": "open",
    "in_arrears": False,
    "accounts": {"cpf": {"unit": "EUR", "balance": "1440.00", "ceiling": "5000.00"},
                 "c2p": {"unit": "points", "balance": 0}},
    "held": "0.00", "available": "1440.00", "pending": []}
START_TIMEOUT_SECONDS = 60
INSTALL_TIMEOUT_SECONDS = 900


@dataclass(frozen=True, slots=True)
class Figures:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def bare_app() -> Starlette:
    """The floor: Starlette and uvicorn answering a JSON document, no store, no auth; and,
    when BARE_DATABASE_VARIABLE names a store, the stored balance document of `?key=` read
    the plain way (psycopg_pool, one prepared lookup): no auth, log, metrics or ETag."""

    async def bare(request: Request) -> Response:
        return JSONResponse(BARE_DOCUMENT)

    url = os.environ.get(BARE_DATABASE_VARIABLE)
    if url is None:
        return Starlette(routes=[Route(BARE_PATH, bare)])
    schema = parse_qs(urlsplit(url).query)["schema"][0]
    statement = select_cached(Names(schema)).as_bytes(None)
    pool: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
        conninfo_of(url), open=False, min_size=BARE_DATABASE_CONNECTIONS,
        max_size=BARE_DATABASE_CONNECTIONS, kwargs={"autocommit": True})

    async def bare_database(request: Request) -> Response:
        async with pool.connection() as connection:
            cursor = await connection.execute(
                statement, (request.query_params["key"], dt.date.today()), prepare=True)
            row = await cursor.fetchone()
        return Response(b"{}" if row is None else bytes(row[0]), media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.open()
        try:
            yield
        finally:
            await pool.close()

    return Starlette(routes=[Route(BARE_PATH, bare), Route(BARE_DATABASE_PATH, bare_database)],
                     lifespan=lifespan)


@contextmanager
def database(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    server = local_postgres.start()
    try:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server.url, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{schema}"')
        yield f"{server.url}?schema={schema}"
    finally:
        server.stop()


def persons_of(count: int) -> list[str]:
    return sorted({str(m["person"]) for m in generate(DemoSettings(persons=count))
                   if m.get("person")})


def load(url: str, count: int) -> None:
    """The demo careers through the ledger (batched transactions), then the read models."""
    started = time.perf_counter()
    lines = (ingest.Line(schemas.parse(orjson.dumps(message)), ("bench", str(index)), 1)
             for index, message in enumerate(generate(DemoSettings(persons=count))))
    service = LedgerService.build(_settings(url))
    try:
        counts = ingest.ingest_lines(service.ledger, lines)
        loaded = time.perf_counter()
        runner = Runner(service.ledger, live_names(service.ledger))
        projected = runner.catch_up()
    finally:
        service.close()
    print(f"loaded {sum(counts.values())} messages for {count} persons in "
          f"{loaded - started:.0f} s; projected {projected} events in "
          f"{time.perf_counter() - loaded:.0f} s", flush=True)


def _settings(url: str) -> HttpSettings:
    return HttpSettings.from_environment(servers.environment(url))


def wrk_script(folder: Path, paths: list[str], token: str | None) -> Path:
    quoted = ",\n".join(f'"{path}"' for path in paths)
    header = f'{{["Authorization"] = "Bearer {token}"}}' if token else "{}"
    script = folder / f"paths-{len(paths)}.lua"
    script.write_text(
        f"local paths = {{\n{quoted}\n}}\nlocal headers = {header}\n"
        "function setup(thread) thread:set('seed', math.random(1, 1000000)) end\n"
        "function init(args) math.randomseed(seed) end\n"
        "function request() return wrk.format('GET', paths[math.random(#paths)], headers) end\n",
        encoding="utf-8")
    return script


def run_wrk(name: str, base_url: str, script: Path, seconds: int,
            connections: int) -> Figures:
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency",
               "-s", str(script), base_url]
    output = subprocess.run(command, capture_output=True, text=True, check=True,
                            timeout=seconds + START_TIMEOUT_SECONDS).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Figures(name, float(_field(output, r"Requests/sec:\s+([\d.]+)")),
                   _milliseconds(_field(output, r"\s50%\s+([\d.]+\w+)")),
                   _milliseconds(_field(output, r"\s99%\s+([\d.]+\w+)")),
                   int(errors.group(1)) if errors else 0)


def _field(output: str, pattern: str) -> str:
    found = re.search(pattern, output)
    if found is None:
        raise RuntimeError(f"wrk output without {pattern!r}:\n{output}")
    return found.group(1)


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@contextmanager
def bare_server(workers: int, log: Path, database_url: str | None = None) -> Iterator[str]:
    port = servers.free_port()
    command = [sys.executable, "-m", "uvicorn", BARE_APP, "--factory",
               "--port", str(port), "--workers", str(workers), "--no-access-log",
               "--log-level", "warning", "--no-server-header"]
    environment = {k: v for k, v in os.environ.items() if k != BARE_DATABASE_VARIABLE}
    if database_url is not None:
        environment[BARE_DATABASE_VARIABLE] = database_url
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=servers.ROOT, stdout=output,
                                   stderr=subprocess.STDOUT, env=environment)
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait(base_url + BARE_PATH)
        yield base_url
    finally:
        process.terminate()
        process.wait(START_TIMEOUT_SECONDS)


def _wait(url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def profile(url: str, persons: list[str]) -> str:
    """Where one balance read spends its time, without HTTP: the service call, profiled."""
    service = LedgerService.build(_settings(url))
    try:
        chosen = random.Random(1).choices(persons, k=PROFILED_READS)
        today = dt.date.today()
        started = time.perf_counter()
        profiler = cProfile.Profile()
        profiler.enable()
        for person in chosen:
            orjson.dumps(service.balance(person, today, None))
        profiler.disable()
        elapsed = time.perf_counter() - started
    finally:
        service.close()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(PROFILE_LINES)
    return (f"in-process service.balance + orjson: {elapsed / PROFILED_READS * 1e6:.0f} us per "
            f"read (profiled, one thread)\n" + text.getvalue())


def warm(url: str, persons: list[str]) -> None:
    """Today's document of every person computed and stored once (what the first read of
    the day does), so that the cached run measures hits."""
    service = LedgerService.build(_settings(url))
    started = time.perf_counter()
    try:
        assert service.documents is not None, "PostgreSQL only"
        today = dt.date.today()
        for person in persons:
            service.documents.fill(person, today)
    finally:
        service.close()
    seconds = time.perf_counter() - started
    print(f"warmed today's documents of {len(persons)} persons in {seconds:.0f} s "
          f"({len(persons) / seconds:,.0f} fills/s, one thread)", file=sys.stderr, flush=True)


def measure(arguments: argparse.Namespace, url: str, persons: list[str]) -> list[Figures]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        served, _ = measure_service(url, persons, arguments.workers, arguments.seconds,
                                    arguments.connections, folder)
        bare = measure_bare(arguments.workers, arguments.seconds, arguments.connections, folder)
        bare_database = measure_bare_database(url, persons, arguments.workers,
                                              arguments.seconds, arguments.connections, folder)
    return [*served, bare, bare_database]


def measure_service(url: str, persons: list[str], workers: int, seconds: int,
                    connections: int, folder: Path) -> tuple[list[Figures], dict[str, int]]:
    """`cpa-ledger serve --workers W` driven by wrk: balances `as_of` (computed), today's
    (after `warm`: cached) and /healthz; and the peak RSS (KiB) of each of its processes."""
    tokens = servers.write_tokens(folder / "tokens")
    running = servers.start(url, folder / "serve.log", workers=workers,
                            CPA_API_TOKENS_FILE=str(tokens))
    try:
        yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
        computed_paths = [f"/v1/persons/{person}/balances?as_of={yesterday}"
                          for person in persons]
        computed = run_wrk("balance as_of (computed)", running.base_url,
                           wrk_script(folder, computed_paths, servers.TOKENS["read"]),
                           seconds, connections)
        warm(url, persons)
        paths = [f"/v1/persons/{person}/balances" for person in persons]
        balance = run_wrk("balance today (cached)", running.base_url,
                          wrk_script(folder, paths, servers.TOKENS["read"]), seconds,
                          connections)
        # The same service without the store: routing, request id, log line, metrics.
        healthz = run_wrk("service /healthz", running.base_url,
                          wrk_script(folder, ["/healthz"], None), seconds, connections)
        peaks = {"serve (main)": vm_hwm_kib(running.process.pid)}
        workers_ids = [pid for pid in descendants(running.process.pid) if not _is_helper(pid)]
        for number, child in enumerate(workers_ids, start=1):
            peaks[f"serve (worker {number})"] = vm_hwm_kib(child)
    finally:
        running.stop()
    return [computed, balance, healthz], peaks


def measure_bare(workers: int, seconds: int, connections: int, folder: Path) -> Figures:
    with bare_server(workers, folder / "bare.log") as base_url:
        return run_wrk("bare Starlette JSON", base_url, wrk_script(folder, [BARE_PATH], None),
                       seconds, connections)


def measure_bare_database(url: str, persons: list[str], workers: int, seconds: int,
                          connections: int, folder: Path) -> Figures:
    """The bare app's lookup of today's stored documents (after `measure_service`'s `warm`):
    what Starlette and psycopg alone make of the cached read on this machine."""
    service = LedgerService.build(_settings(url))
    try:
        keys = [service.ledger.person_key(normalise(person)) for person in persons]
    finally:
        service.close()
    paths = [f"{BARE_DATABASE_PATH}?key={key}" for key in keys]
    with bare_server(workers, folder / "bare-db.log", url) as base_url:
        return run_wrk("bare Starlette + PostgreSQL", base_url, wrk_script(folder, paths, None),
                       seconds, connections)


def vm_hwm_kib(process_id: int) -> int:
    """The peak resident set of a live process (VmHWM), in KiB; -1 when unknown."""
    try:
        status = Path(f"/proc/{process_id}/status").read_text(encoding="ascii")
    except OSError:
        return -1
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def _is_helper(process_id: int) -> bool:
    """multiprocessing's resource tracker, which uvicorn's supervisor starts beside workers."""
    try:
        command = Path(f"/proc/{process_id}/cmdline").read_bytes()
    except OSError:
        return True
    return b"resource_tracker" in command


def descendants(process_id: int) -> list[int]:
    """The live processes below `process_id` (uvicorn's workers, its multiprocessing helpers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The parent is the 2nd field after the command name "(...)".
                fields = (entry / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [process_id]
    while frontier:
        parent = frontier.pop()
        children = sorted(pid for pid, ppid in parents.items() if ppid == parent)
        found += children
        frontier += children
    return found


def ensure_wrk() -> None:
    """wrk on the PATH: installed with apt-get when missing and we are root (as
    deploy/local/postgres.py installs PostgreSQL), else a clear refusal."""
    if shutil.which("wrk") is not None:
        return
    if os.geteuid() != 0:
        raise SystemExit("needs wrk: sudo apt-get install -y wrk (or run as root)")
    print("wrk not found; installing it with apt-get", file=sys.stderr, flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL,
                       timeout=INSTALL_TIMEOUT_SECONDS)
    if shutil.which("wrk") is None:
        raise SystemExit("apt-get installed wrk but it is not on the PATH")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--database-url", help="an already loaded store (with --skip-load)")
    parser.add_argument("--skip-load", action="store_true")
    arguments = parser.parse_args()
    ensure_wrk()
    with database(arguments.database_url) as url:
        if not arguments.skip_load:
            load(url, arguments.persons)
        persons = persons_of(arguments.persons)
        figures = measure(arguments, url, persons)
        print(f"\n{len(persons)} persons, {arguments.workers} workers, {arguments.connections} "
              f"connections, {arguments.seconds} s each, wrk {WRK_THREADS} threads:")
        for row in figures:
            print(f"  {row.name:<22} {row.requests_per_second:>9,.0f} req/s   p50 "
                  f"{row.p50_ms:6.2f} ms   p99 {row.p99_ms:6.2f} ms   non-2xx {row.errors}")
        print("\n" + profile(url, persons))


if __name__ == "__main__":
    main()
