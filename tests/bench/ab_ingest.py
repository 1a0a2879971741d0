"""Ingest on PostgreSQL, one source tree against another, in turn, on one server.

    git worktree add --detach /tmp/before <commit>
    python -m tests.bench.ab_ingest --persons 1000 --rounds 5 /tmp/before .

(The child that ingests is this file, run with the other tree's packages on its path.)

Each round ingests the same demo feed once with each tree (a child process with that tree on
its path, into a fresh schema) and prints its wall-clock rate and its rate per CPU second of
the ingesting process; at the end, the medians and their ratios to the first tree. On a shared
machine the CPU rate is the steadier figure: it is the Python cost per message, whatever the
other processes take from the wall clock.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson

CHILD_TIMEOUT_S = 1_800


@dataclass
class Rates:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def child(database_url: str, persons: int) -> None:
    """Ingest the demo feed into `database_url`; print messages, wall seconds, CPU seconds."""
    import schemas
    from ledger import limits
    from ledger.application import Ledger
    from ledger.config import Settings
    from ledger.demo import DemoSettings, generate

    items = [schemas.parse(orjson.dumps(message))
             for message in generate(DemoSettings(persons=persons, seed=1))]
    step = limits.INGEST_BATCH_MESSAGES_MAX
    with Ledger(Settings.from_environment({"CPA_DATABASE_URL": database_url})) as ledger:
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(items), step):
            ledger.ingest(items[start:start + step])
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(orjson.dumps({"messages": len(items), "wall_s": wall, "cpu_s": cpu}).decode())


def _run(tree: Path, database_url: str, persons: int) -> dict[str, float]:
    # This very file runs the child, with the other tree's packages on the path.
    output = subprocess.run(
        [sys.executable, __file__, "--child", database_url, str(persons)],
        env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree, capture_output=True, text=True,
        check=True, timeout=CHILD_TIMEOUT_S).stdout
    figures: dict[str, float] = orjson.loads(output.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("trees", nargs="+", type=Path,
                        help="source trees; the first is the reference")
    arguments = parser.parse_args()
    from deploy.local import postgres as local_postgres
    from tests.bench.bench_postgres import create_schema

    trees = [tree.resolve() for tree in arguments.trees]
    rates = {tree: Rates() for tree in trees}
    server = local_postgres.start(install=True)
    try:
        for round_number in range(arguments.rounds):
            for tree in trees:
                url = create_schema(server.url, f"ab_{uuid.uuid4().hex[:12]}")
                figures = _run(tree, url, arguments.persons)
                rates[tree].wall.append(figures["messages"] / figures["wall_s"])
                rates[tree].cpu.append(figures["messages"] / figures["cpu_s"])
                print(f"round {round_number} {tree}: {rates[tree].wall[-1]:,.0f} msg/s wall, "
                      f"{rates[tree].cpu[-1]:,.0f} msg/s per CPU second "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        server.stop()
    reference = rates[trees[0]]
    for tree in trees:
        wall, cpu = statistics.median(rates[tree].wall), statistics.median(rates[tree].cpu)
        wall_ratio = wall / statistics.median(reference.wall)
        cpu_ratio = cpu / statistics.median(reference.cpu)
        print(f"{tree}: median {wall:,.0f} msg/s wall (x{wall_ratio:.2f}), "
              f"{cpu:,.0f} msg/s per CPU second (x{cpu_ratio:.2f})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
