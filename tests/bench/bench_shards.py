"""Throughput with one and two shards and one to three consumer processes (issue 12).

    python -m tests.bench.bench_shards [--messages 20000] [--consumers 3]

Produces the demo feed (year closes left out: a yearly sweep, not the sustained load) once to an
8-partition topic, then for each configuration drains it from the beginning with a fresh group
into fresh databases: one shard (all 8 partitions on one PostgreSQL server) or two (partitions
0-3 and 4-7 on two servers), consumed by 1..N `cpa-ledger consume` processes (static members).
Prints, per configuration, the sustained rate (between 10 % and 90 % of the backlog, start-up
excluded), its ratio to one shard and one consumer measured in the same run, and where the time
goes: the consumers' CPU seconds and the PostgreSQL servers' CPU seconds per 1 000 messages,
and the machine's cores kept busy (CPU seconds / wall seconds).

Starts its own PostgreSQL servers and Kafka broker (deploy/local) and stops them afterwards
(CPA_TEST_KAFKA_BOOTSTRAP_SERVERS: use that broker instead).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from deploy.local import kafka, postgres
from deploy.local.postgres import PostgresServer
from ledger.cluster import Cluster
from ledger.config import Settings
from ledger.shards import ShardMap, load
from tests.bench.bench_kafka import _sustained, feed_records, produce_all
from tests.kafka import support
from tests.kafka.support import Names

PARTITIONS = 8
SAMPLE_INTERVAL_S = 0.25
RUN_TIMEOUT_S = 1_800.0
EXIT_TIMEOUT_S = 60.0
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Run:
    shards: int
    consumers: int
    rate_per_s: float
    wall_s: float
    consumer_cpu_s: float
    postgres_cpu_s: float
    messages: int


@contextmanager
def started_servers() -> Iterator[tuple[list[PostgresServer], str]]:
    with ExitStack() as stack:
        servers = [stack.enter_context(postgres.start()) for _ in range(2)]
        bootstrap = os.environ.get("CPA_TEST_KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            bootstrap = stack.enter_context(kafka.start()).bootstrap_servers
        yield servers, bootstrap


def shard_map_file(folder: Path, tag: str, urls: list[str]) -> tuple[Path, dict[str, str]]:
    """A map of len(urls) shards splitting the partitions evenly; its variables."""
    per_shard = PARTITIONS // len(urls)
    lines = [f"partitions = {PARTITIONS}"]
    variables: dict[str, str] = {}
    for index, url in enumerate(urls):
        variable = f"CPA_SHARD_S{index}_URL"
        owned = list(range(index * per_shard, (index + 1) * per_shard))
        lines += [f"[shards.s{index}]", f'database_url_env = "{variable}"', f"partitions = {owned}"]
        variables[variable] = url
    path = folder / f"{tag}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, variables


def cpu_seconds(process_id: int) -> float:
    """User + system CPU of a process and its waited-for children."""
    fields = Path(f"/proc/{process_id}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS_PER_S


def postgres_cpu_seconds(servers: list[PostgresServer]) -> float:
    """CPU of every backend of our servers (the postmasters' process trees)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            if b"postgres" in command and any(str(s.data_dir).encode() in command
                                              or _child_of(entry, s) for s in servers):
                total += cpu_seconds(int(entry.name))
        except OSError:
            continue
    return total


def _child_of(entry: Path, server: PostgresServer) -> bool:
    """A backend: its parent is the postmaster started on the server's data folder."""
    parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
    try:
        return str(server.data_dir).encode() in Path(f"/proc/{parent}/cmdline").read_bytes()
    except OSError:
        return False


def drain(servers: list[PostgresServer], bootstrap: str, feed: str, shards: int,
          consumers: int, goal: int, folder: Path) -> Run:
    names = Names.fresh(f"bench{shards}{consumers}")
    names = Names(feed, names.dead_letters, names.postings, names.group, names.schema)
    control = f"control-{names.group}"
    support.create_topics(bootstrap, {control: PARTITIONS, names.dead_letters: 1})
    urls = [support.fresh_schema(server.url, names.schema) for server in servers[:shards]]
    path, variables = shard_map_file(folder, names.group, urls)
    shard_map = load("", {"CPA_SHARD_MAP": str(path), **variables})
    environment = {"CPA_SHARD_MAP": str(path), "CPA_KAFKA_CONTROL_TOPIC": control, **variables}
    with Cluster.open(_settings(urls[0]), shard_map) as cluster:
        processes = [_consume(urls[0], bootstrap, names, n, environment, folder)
                     for n in range(1, consumers + 1)]
        postgres_before = postgres_cpu_seconds(servers)
        started = time.monotonic()
        samples: list[tuple[float, int]] = []
        try:
            while not samples or samples[-1][1] < goal:
                assert all(p.poll() is None for p in processes), _tail(folder)
                assert time.monotonic() - started < RUN_TIMEOUT_S, "too slow"
                samples.append((time.monotonic() - started, _recorded(cluster, shard_map, feed)))
                time.sleep(SAMPLE_INTERVAL_S)
            consumer_cpu = sum(cpu_seconds(p.pid) for p in processes)
            postgres_cpu = postgres_cpu_seconds(servers) - postgres_before
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(EXIT_TIMEOUT_S)
    return Run(shards, consumers, _sustained(samples, goal), samples[-1][0], consumer_cpu,
               postgres_cpu, goal)


def _settings(url: str) -> Settings:
    return Settings.from_environment({"CPA_DATABASE_URL": url,
                                      "CPA_PERSON_KEY_SECRET": support.PERSON_KEY_SECRET})


def _consume(url: str, bootstrap: str, names: Names, number: int, extra: dict[str, str],
             folder: Path) -> subprocess.Popen[bytes]:
    environment = {**support.consumer_environment(url, bootstrap, names, f"bench-{number}"),
                   **extra}
    return support.start_cli("consume", environment, folder / f"consume-{number}.log")


def _recorded(cluster: Cluster, shard_map: ShardMap, topic: str) -> int:
    total = 0
    for shard, ledger in cluster:
        total += sum(support.recorded_positions(ledger, topic, shard.partitions).values())
    return total


def _tail(folder: Path) -> str:
    return "\n".join(path.read_text(errors="replace")[-1500:]
                     for path in sorted(folder.glob("consume-*.log")))


def report(runs: list[Run]) -> None:
    reference = runs[0].rate_per_s
    print(f"\n{'shards':>6} {'consumers':>9} {'msg/s':>8} {'ratio':>6} {'wall s':>7}"
          f" {'consumer CPU s/1k':>18} {'PostgreSQL CPU s/1k':>20} {'cores busy':>10}")
    for run in runs:
        per_thousand = 1_000 / run.messages
        busy = (run.consumer_cpu_s + run.postgres_cpu_s) / max(run.wall_s, 1e-9)
        print(f"{run.shards:>6} {run.consumers:>9} {run.rate_per_s:>8.0f}"
              f" {run.rate_per_s / reference:>6.2f} {run.wall_s:>7.1f}"
              f" {run.consumer_cpu_s * per_thousand:>18.3f}"
              f" {run.postgres_cpu_s * per_thousand:>20.3f} {busy:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--consumers", type=int, default=3)
    arguments = parser.parse_args()
    records = feed_records(arguments.messages)
    with started_servers() as (servers, bootstrap), TemporaryDirectory() as folder:
        feed = Names.fresh("benchfeed").feed
        support.create_topics(bootstrap, {feed: PARTITIONS})
        produce_all(bootstrap, feed, records)
        runs = [drain(servers, bootstrap, feed, shards, consumers, len(records), Path(folder))
                for shards in (1, 2) for consumers in range(1, arguments.consumers + 1)]
    print(f"{len(records)} messages, {PARTITIONS} partitions, {os.cpu_count()} cores")
    report(runs)


if __name__ == "__main__":
    main()
