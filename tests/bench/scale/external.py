"""The stages measured on other processes: HTTP reads (`cpa-ledger serve` under wrk, next to a
bare Starlette endpoint) and the Kafka consumer (`cpa-ledger consume` draining a backlog)."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from deploy.local import kafka
from tests.bench import bench_http, bench_kafka
from tests.kafka import support
from tests.kafka.support import Names

HTTP_WORKERS = 2
# The figures were measured with 32 connections.
HTTP_CONNECTIONS = 32
KAFKA_PARTITIONS = 4
KIB_PER_MIB = 1024


@dataclass(slots=True)
class Http:
    """wrk's figures for each endpoint, and the peak RSS (MiB) of each serve process."""

    workers: int
    connections: int
    seconds: int
    figures: list[bench_http.Figures] = field(default_factory=list)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)


def http_stage(database_url: str, persons: list[str], seconds: int) -> Http:
    """Balances today and `as_of`, /healthz, and the bare references (a JSON document, and a
    stored document read by Starlette and psycopg alone), under wrk."""
    bench_http.ensure_wrk()
    http = Http(HTTP_WORKERS, HTTP_CONNECTIONS, seconds)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        served, peaks = bench_http.measure_service(database_url, persons, HTTP_WORKERS, seconds,
                                                   HTTP_CONNECTIONS, folder)
        bare = bench_http.measure_bare(HTTP_WORKERS, seconds, HTTP_CONNECTIONS, folder)
        bare_database = bench_http.measure_bare_database(
            database_url, persons, HTTP_WORKERS, seconds, HTTP_CONNECTIONS, folder)
    http.figures = [*served, bare, bare_database]
    http.peak_rss_mib = {name: kib / KIB_PER_MIB for name, kib in peaks.items()}
    return http


def kafka_stage(server_url: str, messages: int) -> bench_kafka.Run:
    """A backlog of `messages` demo messages (closes left out) on a topic of
    KAFKA_PARTITIONS partitions, drained by one `cpa-ledger consume` into a fresh schema."""
    with kafka.start() as broker, tempfile.TemporaryDirectory() as folder:
        bootstrap = broker.bootstrap_servers
        records = bench_kafka.feed_records(messages)
        fresh = Names.fresh("scale")
        # bench_kafka.create_feed_topic names the dead-letter topic after the feed's.
        names = Names(fresh.feed, f"{fresh.feed}-dlq", fresh.postings, fresh.group,
                      fresh.schema)
        bench_kafka.create_feed_topic(bootstrap, names.feed, KAFKA_PARTITIONS)
        bench_kafka.produce_all(bootstrap, names.feed, records)
        database_url = support.fresh_schema(server_url, names.schema)
        environment = support.consumer_environment(database_url, bootstrap, names,
                                                   instance=None)
        command = [sys.executable, "-m", "ledger.cli", "consume"]
        return bench_kafka.drain(f"consume, backlog {len(records):,}", command, environment,
                                 database_url, names, len(records), KAFKA_PARTITIONS,
                                 Path(folder) / "consume.log")
