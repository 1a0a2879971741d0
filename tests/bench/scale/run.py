"""The scale run: one PostgreSQL, every stage in turn, the table at the end (see __init__)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TypeVar

from deploy.local import postgres as local_postgres
from tests.bench.bench_postgres import create_schema, load_average, log, machine
from tests.bench.scale import external, naive, stages
from tests.bench.scale.child import in_child
from tests.bench.scale.report import KIB_PER_MIB, Report, render

T = TypeVar("T")
PROJECT_SCHEMA = "bench_project"
NAIVE_SCHEMA = "bench_naive"
LIMIT_SCHEMA = "bench_limit"
PERSONS_DEFAULT = 100_000
NAIVE_MESSAGES_DEFAULT = 20_000
KAFKA_MESSAGES_DEFAULT = 100_000
SEED_DEFAULT = 1
WRK_SECONDS_DEFAULT = 20


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.scale",
                                     description="naive peer, project and limit at scale, "
                                                 "in one run on one PostgreSQL")
    parser.add_argument("--persons", type=int, default=PERSONS_DEFAULT,
                        help="careers in the demo feed (about 24 messages each)")
    parser.add_argument("--seed", type=int, default=SEED_DEFAULT)
    parser.add_argument("--naive-messages", type=int, default=NAIVE_MESSAGES_DEFAULT,
                        help="messages of the feed's start given to the naive peer (0: none)")
    parser.add_argument("--seconds", type=int, default=WRK_SECONDS_DEFAULT,
                        help="wrk duration of each HTTP endpoint")
    parser.add_argument("--kafka-messages", type=int, default=KAFKA_MESSAGES_DEFAULT,
                        help="backlog drained by `cpa-ledger consume`")
    parser.add_argument("--skip-kafka", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    options = parser.parse_args(argv)
    for name in ("persons", "seconds", "kafka_messages"):
        if getattr(options, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if options.naive_messages < 0:
        parser.error("--naive-messages must be 0 or more")
    return options


def phase(name: str, body: Callable[[], T]) -> T:
    log(f"{name}: started (load average {load_average()})")
    result = body()
    log(f"{name}: done")
    return result


def in_process_stages(report: Report, server_url: str, options: argparse.Namespace) -> str:
    """Ingestion, the naive peer, the limit, catch-up and rebuild, each in a child process.
    The project store's URL."""
    project_url = create_schema(server_url, PROJECT_SCHEMA)
    peaks = report.peak_rss_mib
    report.ingest, peaks["ingest"] = phase("project ingest", lambda: in_child(
        stages.ingest_stage, project_url, options.persons, options.seed))
    if options.naive_messages:
        naive_url = create_schema(server_url, NAIVE_SCHEMA)
        report.naive, peaks["naive peer"] = phase("naive peer", lambda: in_child(
            naive.record_naive, naive_url, options.persons, options.seed,
            options.naive_messages))
    report.limit, peaks["limit (COPY)"] = phase("limit", lambda: in_child(
        stages.limit_stage, server_url, report.ingest.events_table, LIMIT_SCHEMA,
        report.ingest.rate.events, report.ingest.events_per_batch))
    report.catch_up, peaks["project (catch-up)"] = phase("catch-up", lambda: in_child(
        stages.catch_up_stage, project_url))
    report.rebuild, peaks["project (rebuild)"] = phase("rebuild", lambda: in_child(
        stages.rebuild_stage, project_url))
    return project_url


def other_processes(report: Report, server_url: str, project_url: str,
                    options: argparse.Namespace) -> list[str]:
    """HTTP and Kafka; a failure of either is reported, not fatal (the figures so far stand)."""
    failures = []
    if not options.skip_http:
        try:
            report.http = phase("HTTP", lambda: external.http_stage(
                project_url, sorted(report.ingest.persons), options.seconds))
            report.peak_rss_mib.update(report.http.peak_rss_mib)
        except Exception:
            failures.append(f"HTTP stage failed:\n{traceback.format_exc()}")
    if not options.skip_kafka:
        try:
            report.kafka = phase("Kafka consume", lambda: external.kafka_stage(
                server_url, options.kafka_messages))
            report.peak_rss_mib["consume"] = report.kafka.peak_rss_kib / KIB_PER_MIB
        except Exception:
            failures.append(f"Kafka stage failed:\n{traceback.format_exc()}")
    return failures


def _stop_on_sigterm(signal_number: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through the `finally` blocks: children and the cluster are stopped.
    raise SystemExit(f"stopped by signal {signal_number}")


def main(argv: list[str] | None = None) -> None:
    options = arguments(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    server = local_postgres.start(install=True)
    log(f"PostgreSQL at {server.url} in {server.base_dir}")
    try:
        report = Report(options.persons, options.seed, machine(server.url), load_average())
        project_url = in_process_stages(report, server.url, options)
        failures = other_processes(report, server.url, project_url, options)
        report.load_average_end = load_average()
    finally:
        server.stop()
        log("PostgreSQL stopped")
    if options.json is not None:
        options.json.write_text(json.dumps(report.as_document(), indent=2) + "\n",
                                encoding="utf-8")
    print(render(report))
    for failure in failures:
        print(failure, file=sys.stderr)
    if failures:
        raise SystemExit(1)
