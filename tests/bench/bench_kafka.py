"""End-to-end throughput of the Kafka consumer: broker -> recorded in PostgreSQL with positions.

    python -m tests.bench.bench_kafka [--messages 100000] [--naive-messages 3000]
                                      [--partitions 4] [--profile-messages 20000]

Produces the demo feed (year closes left out: they are a yearly sweep over every person, not
the sustained load) to a fresh topic, then drains that backlog with one `cpa-ledger consume`
process (batches of `consumers.limits.BATCH_RECORDS_MAX`, one transaction each) and with one
process recording one message per transaction, each into a fresh schema. Prints the sustained
rate (between 10 % and 90 % of the backlog, start-up excluded), the ratio, the consumer's peak
RSS for the same messages with the whole backlog waiting and with at most 5 000 waiting (produced
while it consumes), and a cProfile summary of an in-process consumer: where the time goes.

Uses CPA_TEST_DATABASE_URL / CPA_TEST_KAFKA_BOOTSTRAP_SERVERS when set, else starts its own
PostgreSQL and Kafka (deploy/local) and stops them afterwards.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import os
import pstats
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import orjson

from consumers.cli import build_inbound
from consumers.metrics import Metrics
from consumers.settings import KafkaSettings
from ledger.application import Ledger
from ledger.config import Settings
from ledger.demo import DemoSettings, generate
from tests.kafka import support
from tests.kafka.support import Names

MESSAGES_PER_PERSON = 23  # the demo feed's average, closes left out
PRODUCE_CHUNK_RECORDS = 10_000
TRICKLE_BACKLOG_RECORDS = 5_000
SAMPLE_INTERVAL_S = 0.25
RUN_TIMEOUT_S = 1_800.0
EXIT_TIMEOUT_S = 60.0
SUSTAINED_FROM, SUSTAINED_TO = 0.10, 0.90
PROFILE_LINES = 25
NAIVE_MODE_FLAG = "--naive-consumer"
# Where the time goes: the first matching fragment of a function's file names its part.
PARTS = (
    ("schemas/", "validation (schemas)"),
    ("/ledger/rules/", "decide: rules"),
    ("/ledger/decide.py", "decide: rules"),
    ("/ledger/state.py", "decide: state"),
    ("/ledger/application.py", "ledger application"),
    ("/ledger/", "ledger (other)"),
    ("/eventsourcing/", "eventsourcing (load, map, store)"),
    ("/psycopg", "PostgreSQL driver"),
    ("/kafka/", "Kafka client"),
    ("/consumers/", "consumer loop"),
    ("<string>", "validation (schemas)"),  # fastjsonschema's generated validators
    ("json", "JSON"),
    ("time.sleep", "waiting (idle polls, start-up)"),
    ("acquire' of '_thread.lock", "waiting (idle polls, start-up)"),
    ("/python3.11/", "Python standard library"),
    ("<built-in", "built-ins"),
    ("<method", "built-ins"),
)


@dataclass(frozen=True)
class Run:
    label: str
    messages: int
    sustained_per_s: float
    total_s: float
    peak_rss_kib: int


@contextmanager
def servers() -> Iterator[tuple[str, str]]:
    """(PostgreSQL URL, Kafka bootstrap servers): given, or our own for the run."""
    from deploy.local import kafka, postgres

    with ExitStack() as stack:
        url = os.environ.get("CPA_TEST_DATABASE_URL")
        bootstrap = os.environ.get("CPA_TEST_KAFKA_BOOTSTRAP_SERVERS")
        if not url:
            url = stack.enter_context(postgres.start()).url
        if not bootstrap:
            bootstrap = stack.enter_context(kafka.start()).bootstrap_servers
        yield url, bootstrap


def feed_records(messages: int) -> list[tuple[bytes | None, bytes]]:
    """The first `messages` of a demo feed (closes left out), as keyed records."""
    persons = max(1, messages // MESSAGES_PER_PERSON + 1)
    feed = (m for m in generate(DemoSettings(persons=persons, seed=3))
            if m["type"] != "accrual.year.closed")
    return [(str(m["person"]).encode(), orjson.dumps(m))
            for m in itertools.islice(feed, messages)]


def create_feed_topic(bootstrap: str, topic: str, partitions: int) -> None:
    support.create_topics(bootstrap, {topic: partitions, f"{topic}-dlq": 1})


def produce_all(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    client = support.producer(bootstrap)
    for start in range(0, len(records), PRODUCE_CHUNK_RECORDS):
        support.produce(client, topic, records[start:start + PRODUCE_CHUNK_RECORDS])
    client.close()


def trickle(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]],
            recorded: Callable[[], int]) -> None:
    """Produce while the consumer consumes, never more than TRICKLE_BACKLOG_RECORDS ahead."""
    client = support.producer(bootstrap)
    for start in range(0, len(records), TRICKLE_BACKLOG_RECORDS):
        while recorded() < start:
            time.sleep(SAMPLE_INTERVAL_S / 5)
        support.produce(client, topic, records[start:start + TRICKLE_BACKLOG_RECORDS])
    client.close()


def drain(label: str, command: list[str], environment: dict[str, str], database_url: str,
          names: Names, goal: int, partitions: int, log: Path,
          feeder: Callable[[Callable[[], int]], None] | None = None) -> Run:
    """Run a consumer process until `goal` records are recorded (`feeder` producing them
    meanwhile, if given); its figures."""
    ledger = support.ledger_at_secret(database_url)
    with log.open("ab") as stream:
        process = subprocess.Popen(command, env=environment, stdout=stream, stderr=stream,
                                   cwd=support.REPOSITORY)
    if feeder is not None:
        progress = support.ledger_at_secret(database_url)
        threading.Thread(target=feeder, args=(lambda: _recorded(progress, names, partitions),),
                         daemon=True).start()
    started = time.monotonic()
    samples: list[tuple[float, int]] = []
    try:
        while not samples or samples[-1][1] < goal:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() - started < RUN_TIMEOUT_S, f"{label} too slow"
            recorded = _recorded(ledger, names, partitions)
            samples.append((time.monotonic() - started, recorded))
            time.sleep(SAMPLE_INTERVAL_S)
        peak_rss_kib = _peak_rss_kib(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(EXIT_TIMEOUT_S)
        ledger.close()
    return Run(label, samples[-1][1], _sustained(samples, goal), samples[-1][0], peak_rss_kib)


def _recorded(ledger: Ledger, names: Names, partitions: int) -> int:
    return sum(support.recorded_positions(ledger, names.feed, range(partitions)).values())


def _sustained(samples: list[tuple[float, int]], goal: int) -> float:
    low = next(s for s in samples if s[1] >= SUSTAINED_FROM * goal)
    high = next(s for s in samples if s[1] >= SUSTAINED_TO * goal)
    return (high[1] - low[1]) / max(high[0] - low[0], 1e-9)


def _peak_rss_kib(process_id: int) -> int:
    for line in Path(f"/proc/{process_id}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def naive_consumer() -> None:
    """The comparison: the same loop, one message per poll, so one transaction per message."""
    settings = Settings.from_environment()
    kafka_settings = KafkaSettings.from_environment(settings)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    ledger = Ledger(settings)
    try:
        build_inbound(ledger, kafka_settings, Metrics(), sys.stderr, batch_records_max=1) \
            .run(stopping)
    finally:
        ledger.close()


def profile(bootstrap: str, database_url: str, names: Names, goal: int,
            partitions: int) -> pstats.Stats:
    """The batched loop in this process under cProfile, until `goal` records are recorded."""
    environment = support.consumer_environment(database_url, bootstrap, names, instance=None)
    settings = Settings.from_environment(environment)
    ledger = support.ledger_at_secret(database_url)
    stopping = threading.Event()

    def watch() -> None:
        while _recorded(ledger, names, partitions) < goal:
            time.sleep(SAMPLE_INTERVAL_S)
        stopping.set()

    profiler = cProfile.Profile()
    with open(os.devnull, "w") as sink:
        loop = build_inbound(ledger, KafkaSettings.from_environment(settings, environment),
                             Metrics(), sink)
        threading.Thread(target=watch, daemon=True).start()
        profiler.runcall(loop.run, stopping)
    ledger.close()
    return pstats.Stats(profiler)


# The loop's stages and, inside `Ledger.ingest`, its steps: (file suffix, function, label).
STAGES = (
    ("consumers/loop.py", "poll", "poll (Kafka fetch, records)"),
    ("schemas/validation.py", "parse", "validate (schemas.parse)"),
    ("ledger/application.py", "ingest", "Ledger.ingest (decide + record)"),
    ("ledger/application.py", "_decide_segment", "  decide a batch"),
    ("ledger/postgres.py", "select_receipts", "    read known message keys"),
    ("ledger/application.py", "_load", "    load person accounts"),
    ("ledger/application.py", "_save", "  record a batch (one transaction)"),
    ("consumers/deadletters.py", "send", "dead letters (send, confirm)"),
    ("consumers/loop.py", "store_watermarks", "dead-letter watermarks"),
    ("consumers/loop.py", "commit_hints", "Kafka offset hints"),
)


def stages(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Cumulative time of each stage."""
    rows = stats.stats.items()  # type: ignore[attr-defined]
    return [(label, sum(row[3] for (filename, _, name), row in rows
                        if filename.endswith(suffix) and name == function))
            for suffix, function, label in STAGES]


def parts(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time (tottime) summed by part of the code."""
    totals: dict[str, float] = defaultdict(float)
    for (filename, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{name}"
        part = next((label for fragment, label in PARTS if fragment in where), "other")
        totals[part] += row[2]
    return sorted(totals.items(), key=lambda item: -item[1])


def report(runs: list[Run], stats: pstats.Stats, produced: int) -> None:
    print(f"\nbacklog: {produced} demo messages (closes left out)")
    for run in runs:
        print(f"{run.label:<34} {run.sustained_per_s:>9,.0f} msg/s sustained  "
              f"({run.messages} recorded in {run.total_s:.1f} s incl. start-up; "
              f"peak RSS {run.peak_rss_kib / 1024:.0f} MiB)")
    batched, naive = runs[0], runs[-1]
    print(f"ratio batched/naive: {batched.sustained_per_s / naive.sustained_per_s:.1f}x")
    total = sum(seconds for _, seconds in parts(stats))
    print("\nwhere the consumer's time goes, by stage (cumulative, cProfile):")
    for label, seconds in stages(stats):
        print(f"  {label:<40} {seconds:7.2f} s  {100 * seconds / total:5.1f} %")
    print("\nand by code (own time):")
    for part, seconds in parts(stats):
        print(f"  {part:<34} {seconds:7.2f} s  {100 * seconds / total:5.1f} %")
    print()
    stats.sort_stats("tottime").print_stats(PROFILE_LINES)


def main() -> None:
    if NAIVE_MODE_FLAG in sys.argv:
        naive_consumer()
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--naive-messages", type=int, default=3_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--profile-messages", type=int, default=20_000)
    arguments = parser.parse_args()
    with servers() as (postgres_url, bootstrap), TemporaryDirectory() as folder:
        run_all(arguments, postgres_url, bootstrap, Path(folder))


def run_all(arguments: argparse.Namespace, postgres_url: str, bootstrap: str,
            folder: Path) -> None:
    records = feed_records(arguments.messages)
    backlog, trickled = Names.fresh("bench"), Names.fresh("trickle")
    for names in (backlog, trickled):
        create_feed_topic(bootstrap, names.feed, arguments.partitions)
    produce_all(bootstrap, backlog.feed, records)
    consume = [sys.executable, "-m", "ledger.cli", "consume"]
    naive = [sys.executable, "-m", "tests.bench.bench_kafka", NAIVE_MODE_FLAG]
    runs = [
        run(arguments, postgres_url, bootstrap, folder, f"batched, backlog {len(records)}",
            consume, backlog, len(records)),
        run(arguments, postgres_url, bootstrap, folder,
            f"batched, backlog <= {TRICKLE_BACKLOG_RECORDS}", consume, trickled, len(records),
            lambda recorded: trickle(bootstrap, trickled.feed, records, recorded)),
        run(arguments, postgres_url, bootstrap, folder,
            f"1 message/transaction, first {arguments.naive_messages}", naive, backlog,
            arguments.naive_messages),
    ]
    profiled = Names.fresh("profile")
    profiled = Names(backlog.feed, f"{backlog.feed}-dlq", backlog.postings, profiled.group,
                     profiled.schema)
    stats = profile(bootstrap, support.fresh_schema(postgres_url, profiled.schema), profiled,
                    min(arguments.profile_messages, len(records)), arguments.partitions)
    report([runs[0], runs[2]], stats, len(records))
    print(f"memory, same {len(records)} messages and persons: peak RSS "
          f"{runs[0].peak_rss_kib / 1024:.0f} MiB with the whole backlog waiting, "
          f"{runs[1].peak_rss_kib / 1024:.0f} MiB with at most {TRICKLE_BACKLOG_RECORDS}")


def run(arguments: argparse.Namespace, postgres_url: str, bootstrap: str, folder: Path,
        label: str, command: list[str], topic: Names, goal: int,
        feeder: Callable[[Callable[[], int]], None] | None = None) -> Run:
    """One consumer run on `topic`, in a new group and a fresh schema."""
    fresh = Names.fresh("run")
    names = Names(topic.feed, f"{topic.feed}-dlq", topic.postings, fresh.group, fresh.schema)
    database_url = support.fresh_schema(postgres_url, names.schema)
    environment = support.consumer_environment(database_url, bootstrap, names, instance=None)
    result = drain(label, command, environment, database_url, names, goal,
                   arguments.partitions, folder / "consume.log", feeder)
    print(result, flush=True)
    return result


if __name__ == "__main__":
    main()
