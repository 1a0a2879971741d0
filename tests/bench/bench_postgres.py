"""Recording and projection rates on PostgreSQL, batched vs naive, measured in one run.

    python -m tests.bench.bench_postgres --persons 100000 [--naive-messages 20000]
        [--naive-events 20000] [--seed 1] [--json]

Starts its own throwaway PostgreSQL (`deploy.local.postgres`, durability off) and stops it at
the end, also on error, Ctrl-C or SIGTERM. On the demo feed of `--persons` persons it measures:

- recording, batched: `Ledger.ingest` in batches of `limits.INGEST_BATCH_MESSAGES_MAX`
  messages (one transaction per batch), the feed streamed batch by batch; generation and
  validation are timed apart from ingestion;
- recording, naive: one transaction per message over the first `--naive-messages` messages of
  the same feed, in a schema of its own;
- projection, batched: `projections.operations.rebuild` of every read model over the batched
  store's whole log (pages of `limits.NOTIFICATION_PAGE_EVENTS_MAX` events);
- projection, naive: a runner with pages of one event (one transaction per event) over the
  first `--naive-events` events of the batched store, into tables of their own (`__naive`);

and prints messages/s and events/s of each, the batched/naive ratios, the machine (CPUs,
Python, PostgreSQL, load averages at start and end) and the peak resident memory after each
phase. Progress goes to stderr. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import Any

import orjson
import psycopg
from psycopg import sql

import schemas
from deploy.local import postgres as local_postgres
from ledger import limits
from ledger.application import Item, Ledger
from ledger.demo import DemoSettings, generate
from projections.operations import rebuild
from projections.runner import Runner
from projections.schema import Names
from tests.support import ledger_at

PERSONS_DEFAULT = 100_000
NAIVE_MESSAGES_DEFAULT = 20_000
NAIVE_EVENTS_DEFAULT = 20_000
SEED_DEFAULT = 1
BATCHED_SCHEMA = "bench_batched"
NAIVE_SCHEMA = "bench_naive"
NAIVE_SUFFIX = "__naive"
NAIVE_POSITION = "naive"
# One progress line on stderr per this many messages or events: a long run can be watched.
PROGRESS_EVERY_ITEMS = 200_000
KIB_PER_MIB = 1024


@dataclass(frozen=True, slots=True)
class Rate:
    """One timed phase: how much it did and how long it took."""

    name: str
    messages: int
    events: int
    seconds: float

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_document(self) -> dict[str, Any]:
        return {**asdict(self), "messages_per_second": round(self.messages_per_second, 1),
                "events_per_second": round(self.events_per_second, 1)}


@dataclass(frozen=True, slots=True)
class Machine:
    """What the figures were measured on."""

    cpus: int
    python: str
    postgresql: str
    platform: str


@dataclass(slots=True)
class Report:
    """Everything the run prints."""

    persons: int
    seed: int
    batch_messages: int
    machine: Machine
    load_average_start: str
    load_average_end: str = ""
    rates: list[Rate] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)

    def rate(self, name: str) -> Rate:
        return next(rate for rate in self.rates if rate.name == name)

    def ratios(self) -> dict[str, float]:
        recording = _ratio(self.rate("record batched").events_per_second,
                           self.rate("record naive").events_per_second)
        projection = _ratio(self.rate("project batched").events_per_second,
                            self.rate("project naive").events_per_second)
        return {"record_events_per_second": recording, "project_events_per_second": projection}

    def as_document(self) -> dict[str, Any]:
        return {"persons": self.persons, "seed": self.seed,
                "batch_messages": self.batch_messages, "machine": asdict(self.machine),
                "load_average": {"start": self.load_average_start,
                                 "end": self.load_average_end},
                "rates": [rate.as_document() for rate in self.rates],
                "ratios_batched_over_naive": self.ratios(), "outcomes": self.outcomes,
                "peak_rss_mib": self.peak_rss_mib}


class Stopwatch:
    """Accumulates the time spent inside `with` blocks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> Stopwatch:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds += time.perf_counter() - self._started


class Progress:
    """Counts items and says so on stderr every PROGRESS_EVERY_ITEMS (`update` as tqdm's)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.count = 0
        self._started = time.perf_counter()

    def update(self, count: int) -> None:
        before = self.count // PROGRESS_EVERY_ITEMS
        self.count += count
        if self.count // PROGRESS_EVERY_ITEMS > before:
            seconds = time.perf_counter() - self._started
            log(f"{self.label}: {self.count:,} in {seconds:,.0f} s "
                f"({self.count / seconds:,.0f}/s, peak RSS {peak_rss_mib():,.0f} MiB)")


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB


def load_average() -> str:
    with open("/proc/loadavg", encoding="ascii") as averages:
        return averages.read().strip()


def _ratio(batched: float, naive: float) -> float:
    return round(batched / naive, 1) if naive > 0 else 0.0


# The store.


def create_schema(server_url: str, schema: str) -> str:
    """A new schema on the server; the ledger URL that uses it."""
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return f"{server_url}?schema={schema}"


def machine(server_url: str) -> Machine:
    with psycopg.connect(server_url, autocommit=True) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    assert row is not None, "SHOW always answers one row"
    return Machine(cpus=os.cpu_count() or 0, python=platform.python_version(),
                   postgresql=str(row[0]), platform=platform.platform())


def events_recorded(ledger: Ledger) -> int:
    return int(ledger.app.recorder.max_notification_id() or 0)


# Recording.


def parsed_batches(
    persons: int, seed: int, batch_messages: int, generating: Stopwatch, validating: Stopwatch
) -> Iterator[list[Item]]:
    """The demo feed as batches of parsed messages; only one batch is held at a time."""
    feed = generate(DemoSettings(persons=persons, seed=seed))
    while True:
        with generating:
            messages = list(itertools.islice(feed, batch_messages))
        if not messages:
            return
        with validating:
            items = [schemas.parse(orjson.dumps(message)) for message in messages]
        yield items


def record_batched(ledger: Ledger, report: Report) -> None:
    generating, validating, ingesting = Stopwatch(), Stopwatch(), Stopwatch()
    outcomes: Counter[str] = Counter()
    progress = Progress("record batched, messages")
    batches = parsed_batches(report.persons, report.seed, report.batch_messages, generating,
                             validating)
    for batch in batches:
        with ingesting:
            results = ledger.ingest(batch)
        outcomes.update(result.outcome.value for result in results)
        progress.update(len(batch))
    messages = progress.count
    report.outcomes = dict(outcomes)
    report.rates += [Rate("generate", messages, 0, generating.seconds),
                     Rate("validate", messages, 0, validating.seconds),
                     Rate("record batched", messages, events_recorded(ledger),
                          ingesting.seconds)]


def first_items(persons: int, seed: int, count: int) -> list[Item]:
    feed = generate(DemoSettings(persons=persons, seed=seed))
    return [schemas.parse(orjson.dumps(message)) for message in itertools.islice(feed, count)]


def record_naive(server_url: str, count: int, report: Report) -> None:
    """The first `count` messages of the feed, one transaction each, in a schema of their own."""
    items = first_items(report.persons, report.seed, count)
    ledger = ledger_at(create_schema(server_url, NAIVE_SCHEMA))
    progress = Progress("record naive, messages")
    try:
        with Stopwatch() as ingesting:
            for item in items:
                ledger.ingest([item])
                progress.update(1)
        report.rates.append(Rate("record naive", len(items), events_recorded(ledger),
                                 ingesting.seconds))
    finally:
        ledger.close()


# Projection.


def project_batched(ledger: Ledger, report: Report) -> None:
    with Stopwatch() as projecting:
        events = rebuild(ledger, [], progress=Progress("project batched, events"))
    report.rates.append(Rate("project batched", 0, events, projecting.seconds))


def project_naive(ledger: Ledger, events: int, report: Report) -> None:
    runner = Runner(ledger, Names(BATCHED_SCHEMA, NAIVE_SUFFIX), position_name=NAIVE_POSITION,
                    page_size=1)
    runner.create()
    with Stopwatch() as projecting:
        projected = runner.catch_up(Progress("project naive, events"), stop_at=events)
    report.rates.append(Rate("project naive", 0, projected, projecting.seconds))


# The run.


def run(server_url: str, options: argparse.Namespace) -> Report:
    report = Report(options.persons, options.seed, limits.INGEST_BATCH_MESSAGES_MAX,
                    machine(server_url), load_average())
    batched = ledger_at(create_schema(server_url, BATCHED_SCHEMA))
    try:
        phase(report, "record batched", lambda: record_batched(batched, report))
        phase(report, "record naive",
              lambda: record_naive(server_url, options.naive_messages, report))
        phase(report, "project batched", lambda: project_batched(batched, report))
        phase(report, "project naive",
              lambda: project_naive(batched, options.naive_events, report))
    finally:
        batched.close()
    report.load_average_end = load_average()
    return report


def phase(report: Report, name: str, body: Callable[[], None]) -> None:
    log(f"{name}: started (load average {load_average()})")
    body()
    report.peak_rss_mib[name] = round(peak_rss_mib(), 1)
    log(f"{name}: done (peak RSS {report.peak_rss_mib[name]:,.0f} MiB)")


def table(report: Report) -> str:
    rows = [f"{'phase':<16} {'messages':>10} {'events':>10} {'seconds':>9} "
            f"{'messages/s':>11} {'events/s':>10}"]
    for rate in report.rates:
        messages = f"{rate.messages:,}" if rate.messages else "-"
        per_message = f"{rate.messages_per_second:,.0f}" if rate.messages else "-"
        events = f"{rate.events:,}" if rate.events else "-"
        per_event = f"{rate.events_per_second:,.0f}" if rate.events else "-"
        rows.append(f"{rate.name:<16} {messages:>10} {events:>10} {rate.seconds:>9,.1f} "
                    f"{per_message:>11} {per_event:>10}")
    return "\n".join(rows)


def render(report: Report) -> str:
    host = report.machine
    ratios = report.ratios()
    outcomes = ", ".join(f"{name} {count:,}" for name, count in sorted(report.outcomes.items()))
    peaks = ", ".join(f"{name} {mib:,.0f}" for name, mib in report.peak_rss_mib.items())
    return "\n".join([
        f"machine: {host.cpus} CPUs, Python {host.python}, PostgreSQL {host.postgresql}, "
        f"{host.platform}",
        f"load average: start {report.load_average_start} | end {report.load_average_end}",
        f"feed: {report.persons:,} persons, seed {report.seed}; "
        f"batches of {report.batch_messages:,} messages; outcomes: {outcomes}",
        "",
        table(report),
        "",
        f"batched/naive, recording (events/s): {ratios['record_events_per_second']}x; "
        f"projection (events/s): {ratios['project_events_per_second']}x",
        f"peak RSS after each phase (MiB): {peaks}",
    ])


def _stop_on_sigterm(signal_number: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through the `finally` blocks: the cluster is stopped and deleted.
    raise SystemExit(f"stopped by signal {signal_number}")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--persons", type=int, default=PERSONS_DEFAULT)
    parser.add_argument("--naive-messages", type=int, default=NAIVE_MESSAGES_DEFAULT)
    parser.add_argument("--naive-events", type=int, default=NAIVE_EVENTS_DEFAULT)
    parser.add_argument("--seed", type=int, default=SEED_DEFAULT)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser.parse_args()


def main() -> None:
    options = arguments()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    server = local_postgres.start()
    log(f"PostgreSQL at {server.url} in {server.base_dir}")
    try:
        report = run(server.url, options)
    finally:
        server.stop()
        log("PostgreSQL stopped")
    if options.json:
        print(json.dumps(report.as_document(), indent=2))
    else:
        print(render(report))


if __name__ == "__main__":
    main()
