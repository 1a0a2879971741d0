"""Projection catch-up when the projector cannot hold every person, against one that can.

    python -m tests.bench.project_memory [--persons 5000] [--tracked 2500,100000] [--seed 1]

Starts its own throwaway PostgreSQL (`deploy.local.postgres`), ingests the demo feed of
`--persons` careers once, then projects the whole log once per `--tracked` size, each into
tables of its own (`Runner(tracked_persons=N)`). A size below the number of persons is the
regime of France's partitions (about 625 000 persons each, 50 000 held: in log order almost
every event's person was let go since their previous one); a size above it, the reference of
the same run: a projector that holds everyone. Prints events/s per slice of the log (flat
over the log means the cost does not grow with the careers), the whole run's rate, its ratio
to the last size given, where each event's memo came from (`projections.memo`: `memory`,
`stored`, `computed` from the state), the states read one by one, and the memos stored (rows,
bytes each, index and TOAST included). Progress goes to stderr.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

import orjson
from psycopg.sql import SQL, Literal

import schemas
from deploy.local import postgres as local_postgres
from ledger import collector
from ledger.demo import DemoSettings, generate
from projections.memo import MEMO_TABLE
from projections.runner import Runner, live_names
from projections.schema import Names
from tests.bench.bench_postgres import create_schema, load_average, log
from tests.bench.scale import stages

PERSONS_DEFAULT = 5_000
TRACKED_DEFAULT = "2500,100000"
SEED_DEFAULT = 1
SCHEMA = "bench_memory"
SLICE_EVENTS = 40_000


@dataclass(slots=True)
class Run:
    tracked: int
    events: int = 0
    seconds: float = 0.0
    slices: list[float] = field(default_factory=list)  # events/s of each slice
    recalls: dict[str, int] = field(default_factory=dict)
    single_loads: int = 0
    memos: int = 0  # rows of `person_memos` at the end
    memo_bytes: int = 0  # their table's size, TOAST and index included

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def ingest(url: str, persons: int, seed: int) -> None:
    with stages.project_ledger(url) as ledger:
        for _, messages, _ in stages.runs(generate(DemoSettings(persons=persons, seed=seed))):
            ledger.ingest([schemas.parse(orjson.dumps(message)) for message in messages])


def project(url: str, tracked: int, number: int) -> Run:
    run = Run(tracked)
    with stages.project_ledger(url) as ledger:
        runner = Runner(ledger, Names(live_names(ledger).schema, f"__memory{number}"),
                        position_name=f"memory{number}", tracked_persons=tracked)
        runner.create()
        sliced, slice_started = 0, time.perf_counter()
        started = slice_started
        while (count := runner.run_page()) > 0:
            run.events += count
            sliced += count
            if sliced >= SLICE_EVENTS:
                now = time.perf_counter()
                run.slices.append(sliced / (now - slice_started))
                sliced, slice_started = 0, now
        run.seconds = time.perf_counter() - started
        run.recalls = dict(runner.balances.memos.recalls)
        run.single_loads = runner.tracker.single_loads
        run.memos, run.memo_bytes = _memo_table(runner)
    return run


def _memo_table(runner: Runner) -> tuple[int, int]:
    table = runner.names.table(MEMO_TABLE)
    with runner.datastore().transaction(commit=False) as curs:
        curs.execute(SQL("SELECT count(*) AS memos, pg_total_relation_size({}) AS size FROM {}")
                     .format(Literal(runner.names.schema + "." + runner.names.bare(MEMO_TABLE)),
                             table))
        row = curs.fetchone()
    return (int(row["memos"]), int(row["size"])) if row else (0, 0)


def report(runs: list[Run], persons: int) -> None:
    reference = runs[-1].rate
    print(f"{persons:,} persons; events/s per slice of {SLICE_EVENTS:,} events, in log order")
    for run in runs:
        slices = " ".join(f"{rate:,.0f}" for rate in run.slices)
        recalls = ", ".join(f"{where} {count:,}" for where, count in sorted(run.recalls.items()))
        print(f"tracked {run.tracked:>7,}: {run.events:,} events in {run.seconds:.1f} s,"
              f" {run.rate:,.0f} events/s, {run.rate / reference:.2f}x the last;"
              f" slices {slices}; memos: {recalls}; states read one by one"
              f" {run.single_loads:,}; memos stored {_memos(run)}")
    print(f"load average: {load_average()}")


def _memos(run: Run) -> str:
    if not run.memos:
        return "none"
    return f"{run.memos:,}, {run.memo_bytes / run.memos:,.0f} bytes each"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=PERSONS_DEFAULT)
    parser.add_argument("--tracked", default=TRACKED_DEFAULT,
                        help="tracker sizes, comma-separated; the last is the reference")
    parser.add_argument("--seed", type=int, default=SEED_DEFAULT)
    arguments = parser.parse_args(argv)
    sizes = [int(size) for size in arguments.tracked.split(",")]
    collector.tune()  # as `cpa-ledger` does
    server = local_postgres.start(install=True)
    try:
        url = create_schema(server.url, SCHEMA)
        log(f"ingesting {arguments.persons} persons")
        ingest(url, arguments.persons, arguments.seed)
        runs = []
        for number, size in enumerate(sizes):
            log(f"projecting, {size} persons tracked")
            runs.append(project(url, size, number))
        report(runs, arguments.persons)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
