"""Projection catch-up and rebuild with 1, 2, ... `--part` processes, against the COPY limit.

    python -m tests.bench.project_parts [--persons 2000] [--parts 1,2,3] [--seed 1]

Starts its own throwaway PostgreSQL (`deploy.local.postgres`), ingests the demo feed of
`--persons` careers once, measures the limit (binary COPY of the same event rows,
`tests.bench.scale.stages.limit_stage`), then for each number of parts N:

- catch-up: the read models dropped, N `cpa-ledger project --until-caught-up --part K/N`
  processes started together, timed until the last one ends;
- rebuild: N `cpa-ledger rebuild --part K/N` processes together, then one `cpa-ledger
  rebuild` that projects what is left and switches (N = 1: `rebuild` alone).

Times are wall clock from the first start to the last exit, Python's start included (what an
operator sees). Prints events/s, the ratio to one process and to the limit, the CPU seconds
of the `cpa-ledger` processes and of PostgreSQL's, and the cores they kept busy on average
(CPU over wall time): on a busy machine the wall figures measure the contention, the CPU ones
the work, which sets how many parts a machine wants. Ends with the load average.
Progress goes to stderr. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from deploy.local import postgres as local_postgres
from projections.schema import PROJECTIONS, tables_of
from tests.bench.bench_postgres import create_schema, load_average, log
from tests.bench.scale import stages
from tests.http import server as servers

PERSONS_DEFAULT = 2_000
PARTS_DEFAULT = "1,2"
SEED_DEFAULT = 1
SCHEMA = "bench_parts"
LIMIT_SCHEMA = "bench_parts_limit"
PROCESS_TIMEOUT_SECONDS = 3_600


@dataclass(frozen=True, slots=True)
class Run:
    what: str
    parts: int
    events: int
    seconds: float
    cpu_seconds: float  # of the cpa-ledger processes
    server_cpu_seconds: float  # of PostgreSQL's processes

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.project_parts",
                                     description="projection with 1..N --part processes")
    parser.add_argument("--persons", type=int, default=PERSONS_DEFAULT,
                        help="careers in the demo feed (about 17 events each)")
    parser.add_argument("--parts", default=PARTS_DEFAULT,
                        help="comma-separated numbers of processes (default 1,2)")
    parser.add_argument("--seed", type=int, default=SEED_DEFAULT)
    options = parser.parse_args(argv)
    options.parts = [int(count) for count in options.parts.split(",")]
    if options.persons <= 0 or any(count <= 0 for count in options.parts):
        parser.error("--persons and --parts must be positive")
    return options


def _cli(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "ledger.cli", *arguments]


def _together(url: str, commands: list[list[str]]) -> None:
    environment = servers.environment(url)
    processes = [subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL)
                 for command in commands]
    codes = [process.wait(PROCESS_TIMEOUT_SECONDS) for process in processes]
    if any(codes):
        raise RuntimeError(f"exit statuses {codes} of {commands}")


def _drop_read_models(server_url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as connection:
        for projection in PROJECTIONS:
            for base in tables_of(projection):
                for suffix in ("", "__next"):
                    connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
                        sql.Identifier(SCHEMA, base + suffix)))
        connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(
            sql.Identifier(SCHEMA, "projection_positions")))


def _parts(count: int) -> list[list[str]]:
    return [["--part", f"{part}/{count}"] for part in range(1, count + 1)] if count > 1 \
        else [[]]


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _server_cpu_seconds(data_dir: Path) -> float:
    """The postmaster's CPU, its ended backends' (counted in its children's times) and its
    live processes', from /proc (Linux)."""
    postmaster = int((data_dir / "postmaster.pid").read_text(encoding="ascii").split()[0])
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        pid, parent = int(stat.parent.name), int(fields[1])
        if pid == postmaster:
            ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        elif parent == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Meters:
    """CPU seconds so far: this script's children and the PostgreSQL server."""

    data_dir: Path

    def read(self) -> tuple[float, float, float]:
        return time.perf_counter(), _children_cpu_seconds(), _server_cpu_seconds(self.data_dir)

    def since(self, what: str, parts: int, events: int, start: tuple[float, float, float]) -> Run:
        now = self.read()
        return Run(what, parts, events, now[0] - start[0], now[1] - start[1], now[2] - start[2])


def catch_up(meters: Meters, server_url: str, url: str, count: int, events: int) -> Run:
    _drop_read_models(server_url)
    start = meters.read()
    _together(url, [_cli("project", "--until-caught-up", *part) for part in _parts(count)])
    return meters.since("catch-up", count, events, start)


def rebuild(meters: Meters, url: str, count: int, events: int) -> Run:
    start = meters.read()
    if count > 1:
        _together(url, [_cli("rebuild", *part) for part in _parts(count)])
    _together(url, [_cli("rebuild")])
    return meters.since("rebuild", count, events, start)


def render(runs: list[Run], limit: float, persons: int) -> str:
    lines = [f"projection with --part processes, {persons:,} persons"
             f" (limit, binary COPY of the same rows: {limit:,.0f} events/s)",
             f"{'what':<10} {'processes':>9} {'events':>9} {'seconds':>8} {'events/s':>9}"
             f" {'vs 1':>6} {'vs limit':>9} {'cpu s':>6} {'pg cpu s':>8} {'cores':>5}"]
    single = {run.what: run.events_per_second for run in runs if run.parts == 1}
    for run in runs:
        one = single.get(run.what, 0.0)
        lines.append(f"{run.what:<10} {run.parts:>9} {run.events:>9,} {run.seconds:>8.1f}"
                     f" {run.events_per_second:>9,.0f}"
                     f" {run.events_per_second / one if one else 0.0:>5.2f}x"
                     f" {run.events_per_second / limit if limit else 0.0:>8.3f}x"
                     f" {run.cpu_seconds:>6.1f} {run.server_cpu_seconds:>8.1f}"
                     f" {(run.cpu_seconds + run.server_cpu_seconds) / run.seconds:>5.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    options = arguments(argv)
    server = local_postgres.start(install=True)
    log(f"PostgreSQL at {server.url}; load average {load_average()}")
    try:
        url = create_schema(server.url, SCHEMA)
        ingest = stages.ingest_stage(url, options.persons, options.seed)
        events = ingest.rate.events
        log(f"ingested {events:,} events; limit")
        limit = stages.limit_stage(server.url, ingest.events_table, LIMIT_SCHEMA, events,
                                   ingest.events_per_batch)
        runs, meters = [], Meters(server.data_dir)
        for count in options.parts:
            log(f"catch-up, {count} processes")
            runs.append(catch_up(meters, server.url, url, count, events))
            log(f"rebuild, {count} processes")
            runs.append(rebuild(meters, url, count, events))
        end = load_average()
    finally:
        server.stop()
    print(render(runs, limit.events_per_second, options.persons))
    print(f"load average at the end: {end}")


if __name__ == "__main__":
    main()
