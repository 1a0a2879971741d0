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
of the `cpa-ledger` processes (PostgreSQL's not included: on a busy machine the wall figures
measure the contention, the CPU ones the projector's own cost), and the load average.
Progress goes to stderr. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

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
    cpu_seconds: float  # of the cpa-ledger processes (not PostgreSQL's)

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


def catch_up(server_url: str, url: str, count: int, events: int) -> Run:
    _drop_read_models(server_url)
    started, cpu = time.perf_counter(), _children_cpu_seconds()
    _together(url, [_cli("project", "--until-caught-up", *part) for part in _parts(count)])
    return Run("catch-up", count, events, time.perf_counter() - started,
               _children_cpu_seconds() - cpu)


def rebuild(url: str, count: int, events: int) -> Run:
    started, cpu = time.perf_counter(), _children_cpu_seconds()
    if count > 1:
        _together(url, [_cli("rebuild", *part) for part in _parts(count)])
    _together(url, [_cli("rebuild")])
    return Run("rebuild", count, events, time.perf_counter() - started,
               _children_cpu_seconds() - cpu)


def render(runs: list[Run], limit: float, persons: int) -> str:
    lines = [f"projection with --part processes, {persons:,} persons"
             f" (limit, binary COPY of the same rows: {limit:,.0f} events/s)",
             f"{'what':<10} {'processes':>9} {'events':>9} {'seconds':>8} {'events/s':>9}"
             f" {'vs 1':>6} {'vs limit':>9} {'cpu s':>7} {'events/cpu s':>13}"]
    single = {run.what: run.events_per_second for run in runs if run.parts == 1}
    for run in runs:
        one = single.get(run.what, 0.0)
        lines.append(f"{run.what:<10} {run.parts:>9} {run.events:>9,} {run.seconds:>8.1f}"
                     f" {run.events_per_second:>9,.0f}"
                     f" {run.events_per_second / one if one else 0.0:>5.2f}x"
                     f" {run.events_per_second / limit if limit else 0.0:>8.3f}x"
                     f" {run.cpu_seconds:>7.1f} {run.events / run.cpu_seconds:>13,.0f}")
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
        runs = []
        for count in options.parts:
            log(f"catch-up, {count} processes")
            runs.append(catch_up(server.url, url, count, events))
            log(f"rebuild, {count} processes")
            runs.append(rebuild(url, count, events))
        end = load_average()
    finally:
        server.stop()
    print(render(runs, limit.events_per_second, options.persons))
    print(f"load average at the end: {end}")


if __name__ == "__main__":
    main()
