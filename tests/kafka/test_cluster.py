"""Two shards, one broker, three consumers (issue 12): two real PostgreSQL servers each hold a
shard (partitions 0-3 and 4-7 of an 8-partition feed), three `cpa-ledger consume` processes
share the partitions, and the demo feed (identity merges across shards, year closes) must give
exactly what `cpa-ledger ingest` of the same feed gives on a single store: every outcome, every
account's version, state and balances. Then the same while the consumers are SIGKILLed at
random (at least KILLS_MIN times), the broker is restarted once and one shard's PostgreSQL once:
nothing lost, nothing doubled (no outcome recorded a second time on any shard).

The feed is produced as in `test_crashes` (a close or a merge once what came before is recorded,
see its docstring); "recorded" here also waits for the control topic (`consumers.control`),
through which the shards pass closes, merge transfers and forwarded messages, to be consumed.

Size: `--kafka-full` (or CPA_KAFKA_FULL=1) for CLUSTER_PERSONS_FULL persons.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from deploy.local.kafka import KafkaBroker
from deploy.local.postgres import PostgresServer
from ledger.cluster import Cluster
from ledger.config import Settings
from ledger.demo import DemoSettings, generate
from ledger.partitioner import identifier_partition
from ledger.shards import ShardMap, load
from ledger.transfers import SHARD_SOURCES, TRANSFER_SOURCE
from tests.kafka import support
from tests.kafka.support import Names
from tests.kafka.test_crashes import (
    Supervisor,
    _comparable,
    _record,
    _reference,
    _segments,
    _tail,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

PARTITIONS = 8
SHARD_PARTITIONS = {"s0": range(4), "s1": range(4, 8)}
CONSUMERS = 3
DEAD_LETTER_PARTITIONS = 2
KILLS_MIN = 20
# The default suite stops the kills past this many (each costs a restart and a rejoin);
# `--kafka-full` kills until the feed ends.
KILLS_DEFAULT_MAX = 24
SEGMENT_TIMEOUT_S = 300.0
REFERENCE_TIMEOUT_S = 600.0
SETTLE_POLL_S = 0.1
SEED = 20_261_202
DEMO_SEED = 7


class ShardedRun:
    """Topics, shard databases, map file and the consumers' environment of one test."""

    def __init__(self, kafka: str, servers: Sequence[PostgresServer], tmp_path: Path) -> None:
        self.kafka = kafka
        self.names = Names.fresh("cluster")
        self.control = f"control-{self.names.group}"
        support.create_topics(kafka, {self.names.feed: PARTITIONS, self.control: PARTITIONS,
                                      self.names.dead_letters: DEAD_LETTER_PARTITIONS})
        self.urls = {f"CPA_SHARD_{name.upper()}_URL":
                     support.fresh_schema(server.url, self.names.schema)
                     for name, server in zip(SHARD_PARTITIONS, servers, strict=True)}
        self.map_path = tmp_path / "shards.toml"
        self.map_path.write_text(shard_map_text(), encoding="utf-8")
        self.map: ShardMap = load("", {"CPA_SHARD_MAP": str(self.map_path), **self.urls})
        self.cluster = Cluster.open(settings(self.map.shards[0].database_url), self.map)

    def environment(self, instance: str) -> dict[str, str]:
        first = self.map.shards[0].database_url
        return {**support.consumer_environment(first, self.kafka, self.names, instance),
                **self.urls, "CPA_SHARD_MAP": str(self.map_path),
                "CPA_KAFKA_CONTROL_TOPIC": self.control}

    def positions(self, topic: str) -> dict[int, int]:
        recorded: dict[int, int] = {}
        for shard, ledger in self.cluster:
            recorded.update(support.recorded_positions(ledger, topic, shard.partitions))
        return recorded

    def progress(self) -> int:
        """Records recorded so far on both topics (-1 while a store is unavailable)."""
        try:
            return sum(self.positions(self.names.feed).values()) + sum(
                self.positions(self.control).values())
        except Exception:  # a PostgreSQL server is restarting
            return -1

    def wait_settled(self, alive: Any = None) -> None:
        """Until the feed and the control topic are recorded to their ends, and the control
        topic's ends no longer move (a control record is sent before its cause is recorded)."""
        deadline = time.monotonic() + SEGMENT_TIMEOUT_S
        while True:
            ends = {self.names.feed: support.end_offsets(self.kafka, self.names.feed),
                    self.control: support.end_offsets(self.kafka, self.control)}
            while not self._reached(ends):
                assert time.monotonic() < deadline, f"not settled: {ends}"
                if alive is not None:
                    alive()
                time.sleep(SETTLE_POLL_S)
            if support.end_offsets(self.kafka, self.control) == ends[self.control]:
                return

    def _reached(self, ends: dict[str, dict[int, int]]) -> bool:
        try:
            return all(self.positions(topic)[n] >= end for topic, offsets in ends.items()
                       for n, end in offsets.items())
        except Exception:  # a PostgreSQL server is restarting
            return False

    def close(self) -> None:
        self.cluster.close()


def shard_map_text() -> str:
    lines = [f"partitions = {PARTITIONS}"]
    for name, owned in SHARD_PARTITIONS.items():
        lines += [f"[shards.{name}]", f'database_url_env = "CPA_SHARD_{name.upper()}_URL"',
                  f"partitions = {list(owned)}"]
    return "\n".join(lines) + "\n"


def settings(database_url: str) -> Settings:
    return Settings.from_environment({"CPA_DATABASE_URL": database_url,
                                      "CPA_PERSON_KEY_SECRET": support.PERSON_KEY_SECRET})


def cluster_feed(persons: int) -> list[dict[str, Any]]:
    feed = list(generate(DemoSettings(persons=persons, seed=DEMO_SEED)))
    assert crossing_merges(feed), "the feed merges identities across shards"
    assert any(m["type"] == "accrual.year.closed" for m in feed)
    return feed


def crossing_merges(feed: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in feed if m["type"] == "person.merged"
            and _shard_of(m["person"]) != _shard_of(m["data"]["absorbed"])]


def _shard_of(identifier: str) -> str:
    partition = identifier_partition(identifier, PARTITIONS)
    return next(name for name, owned in SHARD_PARTITIONS.items() if partition in owned)


@contextmanager
def consumers(run: ShardedRun, tmp_path: Path, seed: int) -> Iterator[list[Supervisor]]:
    """CONSUMERS supervised `consume` processes (static members consumer-1..3)."""
    rng = random.Random(seed)
    supervisors = [Supervisor(run.environment(f"consumer-{n}"), tmp_path / f"consume-{n}.log",
                              random.Random(rng.random()), run.progress)
                   for n in range(1, CONSUMERS + 1)]
    for supervisor in supervisors:
        supervisor.start()
        supervisor.calm()
    try:
        yield supervisors
    finally:
        statuses = [supervisor.stop() for supervisor in supervisors]
        assert statuses == [0] * CONSUMERS, [_tail(s.log_path) for s in supervisors]


def produce_in_order(run: ShardedRun, feed: Sequence[dict[str, Any]],
                     supervisors: Sequence[Supervisor], broker: KafkaBroker | None = None,
                     server: PostgresServer | None = None, kills_max: int | None = None) -> None:
    """Segment by segment, each once the previous one is settled; with `broker` and `server`,
    kills meanwhile, the broker restarted during the largest segment of the first half and
    `server` during the largest of the second half."""
    segments = [segment for segment in _segments(feed) if segment]
    half = len(segments) // 2
    broker_at = max(range(half), key=lambda index: len(segments[index]))
    server_at = max(range(half, len(segments)), key=lambda index: len(segments[index]))
    client = support.producer(run.kafka)
    for index, segment in enumerate(segments):
        support.produce(client, run.names.feed, [_record(m) for m in segment])
        if broker is not None and index == broker_at:
            client.close()
            broker.restart()
            client = support.producer(run.kafka)
        if server is not None and index == server_at:
            server.restart()
        run.wait_settled()
        kills = sum(supervisor.kills for supervisor in supervisors)
        for supervisor in supervisors:
            if broker is None or (kills_max is not None and kills >= kills_max):
                supervisor.calm()
            else:
                supervisor.storm()
    client.close()
    for supervisor in supervisors:
        supervisor.calm()


def same_as_reference(run: ShardedRun, feed: Sequence[dict[str, Any]], tmp_path: Path,
                      reference: subprocess.Popen[bytes]) -> int:
    """The comparison; the number of outcomes compared."""
    assert reference.wait(REFERENCE_TIMEOUT_S) in (0, 3), _tail(tmp_path / "ingest.log")
    expected = support.ledger_at_secret(f"sqlite:///{tmp_path / 'reference.db'}")
    try:
        theirs = _comparable(support.outcomes(expected))
        ours: dict[Any, tuple[Any, ...]] = {}
        for _, ledger in run.cluster:
            assert support.repeat_count(ledger) == 0, "no message arrived twice on a shard"
            ours.update({key: row for key, row in _comparable(support.outcomes(ledger)).items()
                         if key[0] not in SHARD_SOURCES})
        transfers = [key for _, ledger in run.cluster
                     for key in support.outcomes(ledger) if key[0] == TRANSFER_SOURCE]
        assert len(transfers) == len(crossing_merges(feed)), "each crossing merge transferred"
        assert len(theirs) == len(feed)
        assert ours.keys() == theirs.keys(), "no message missing"
        assert ours == theirs, "every outcome identical"
        persons = sorted({str(m["person"]) for m in feed if "person" in m})
        merged = {str(identifier) for m in feed if m["type"] == "person.merged"
                  for identifier in (m["person"], m["data"]["absorbed"])}
        assert documents(run, persons, merged) == expected_documents(expected, persons, merged)
        return len(ours)
    finally:
        expected.close()


def documents(run: ShardedRun, persons: list[str], merged: set[str]) -> dict[str, Any]:
    """Per person, from the shards: the account (version, state) on their partition's shard,
    the balances from the shard that answers for them (the survivor's, once merged)."""
    found: dict[str, Any] = {}
    for identifier in persons:
        own = support.person_documents(run.cluster.of_person(identifier), [identifier])
        home = run.cluster.ledgers[run.cluster.home_of(identifier).name]
        answered = support.person_documents(home, [identifier])[identifier]
        document = own[identifier]
        if document is not None:
            document["balances"] = answered["balances"] if answered else None
            if identifier in merged:
                del document["state"]
        found[identifier] = document
    return found


def expected_documents(expected: Any, persons: list[str], merged: set[str]) -> dict[str, Any]:
    found = support.person_documents(expected, persons)
    for identifier in merged & found.keys():
        if found[identifier] is not None:
            del found[identifier]["state"]
    return found


def test_two_shards_and_three_consumers_record_the_feed_as_a_single_store(
    kafka_broker: KafkaBroker, postgres_server: PostgresServer,
    second_postgres_server: PostgresServer, cluster_persons: int, tmp_path: Path,
) -> None:
    # Half the persons of the test under fire, which checks all of this again.
    feed = cluster_feed(cluster_persons // 2)
    reference = _reference(feed, tmp_path)
    run = ShardedRun(kafka_broker.bootstrap_servers, [postgres_server, second_postgres_server],
                     tmp_path)
    try:
        with consumers(run, tmp_path, SEED) as supervisors:
            produce_in_order(run, feed, supervisors)
        compared = same_as_reference(run, feed, tmp_path, reference)
        print(f"\n{len(feed)} messages, {compared} outcomes compared, 2 shards, "
              f"{CONSUMERS} consumers")
    finally:
        run.close()


def test_killed_consumers_and_restarted_servers_lose_and_double_nothing_across_shards(
    kafka_broker: KafkaBroker, postgres_server: PostgresServer,
    second_postgres_server: PostgresServer, cluster_persons: int, kafka_full: bool,
    tmp_path: Path,
) -> None:
    feed = cluster_feed(cluster_persons)
    reference = _reference(feed, tmp_path)
    run = ShardedRun(kafka_broker.bootstrap_servers, [postgres_server, second_postgres_server],
                     tmp_path)
    try:
        with consumers(run, tmp_path, SEED + 1) as supervisors:
            for supervisor in supervisors:
                supervisor.storm()
            produce_in_order(run, feed, supervisors, kafka_broker, second_postgres_server,
                             None if kafka_full else KILLS_DEFAULT_MAX)
            kills = sum(supervisor.kills for supervisor in supervisors)
        assert kills >= KILLS_MIN, kills
        compared = same_as_reference(run, feed, tmp_path, reference)
        print(f"\n{len(feed)} messages, {compared} outcomes compared, {kills} kills, "
              "1 broker restart, 1 shard PostgreSQL restart, 0 differences")
    finally:
        run.close()


