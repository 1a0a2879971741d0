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
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer

from consumers.batch import InboundRecord
from consumers.cli import require_partitions
from consumers.control import (
    CLOSE,
    FORWARD,
    KIND_HEADER,
    MERGE_REQUEST,
    ORIGIN_HEADER,
    TRANSFER,
    Origin,
    transfer_value,
)
from consumers.crossing import CONTROL_SOURCE, recover
from consumers.positions import process_recorder
from deploy.local.kafka import KafkaBroker
from deploy.local.postgres import PostgresServer
from ledger.cluster import Cluster
from ledger.config import ConfigurationError, Settings
from ledger.demo import DemoSettings, generate
from ledger.identity import with_key
from ledger.outcomes import Reason
from ledger.partitioner import identifier_partition
from ledger.shards import ShardMap, load, parse_map
from ledger.transfers import SHARD_SOURCES, TRANSFER_SOURCE, Transfer
from tests.kafka import support
from tests.kafka.support import Names
from tests.kafka.test_crashes import (
    EXIT_TIMEOUT_S,
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
QUIET_PERSONS_MIN = 50


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
            assert support.repeat_count(ledger, excluding=SHARD_SOURCES) == 0, \
                "no message arrived twice on a shard (a second merge's mark is a repeat)"
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
    # Fewer persons than the test under fire, which checks all of this again (but enough for a
    # merge across the shards: the demo's first is its 50th person's, seed DEMO_SEED).
    feed = cluster_feed(max(QUIET_PERSONS_MIN, cluster_persons // 2))
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




def test_consume_refuses_topics_whose_partitions_are_not_the_maps(
    kafka_bootstrap_servers: str,
) -> None:
    names = Names.fresh("wrongcount")
    support.create_topics(kafka_bootstrap_servers, {names.feed: PARTITIONS // 2})
    shard_map = parse_map({"partitions": PARTITIONS, "shards": {
        "s0": {"database_url": "postgresql://h/a", "partitions": list(range(PARTITIONS))}}},
        {}, "test")
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap_servers, group_id=None,
                             request_timeout_ms=support.REQUEST_TIMEOUT_MS)
    try:
        with pytest.raises(ConfigurationError, match=f"has {PARTITIONS // 2} partitions"):
            require_partitions(consumer, [names.feed], shard_map)
    finally:
        consumer.close()


def test_a_control_copy_sent_twice_is_recorded_once_and_a_resent_close_is_a_duplicate(
    kafka_broker: KafkaBroker, postgres_server: PostgresServer,
    second_postgres_server: PostgresServer, tmp_path: Path,
) -> None:
    """The receiving side of `consumers.control`, deterministically: two copies of one origin
    (a sender that crashed between the broker's acknowledgement and its position) give one
    close; a copy of another origin (the operator sending the close again) is a duplicate."""
    run = ShardedRun(kafka_broker.bootstrap_servers, [postgres_server, second_postgres_server],
                     tmp_path)
    value = orjson.dumps(_CLOSE)
    client = support.producer(run.kafka)
    for offset in (41, 41, 57):
        origin = Origin(run.names.feed, 3, offset).encode()
        client.send(run.control, value=value, partition=0,
                    headers=[(KIND_HEADER, CLOSE.encode()), (ORIGIN_HEADER, origin)])
    client.flush()
    client.close()
    _consume_until_settled(run, tmp_path)
    try:
        first = run.cluster.ledgers["s0"]
        [receipt] = first.app.ledger_recorder.select_receipts([("operator", "close-2020")])\
            .values()
        assert receipt.outcome == "accepted"
        assert support.repeat_count(first) == 1, "the resent close, and only it"
        origin_name = Origin(run.names.feed, 3, 0).tracking_name()
        assert process_recorder(first).max_tracking_id(origin_name) == 58
    finally:
        run.close()


def test_undecodable_and_refused_control_records_go_to_the_dead_letters(
    kafka_broker: KafkaBroker, postgres_server: PostgresServer,
    second_postgres_server: PostgresServer, tmp_path: Path,
) -> None:
    """On shard s0's control partition: a record without headers and a merge request whose
    payload is no merge (dead-lettered as they are, `malformed`), a forwarded copy that the
    shard refuses and a transfer of a merge refused on the other shard (dead-lettered as the
    inbound records they come from), then a close: each has its outcome, the partition moves
    on to its end, and each dead letter is sent once."""
    run = ShardedRun(kafka_broker.bootstrap_servers, [postgres_server, second_postgres_server],
                     tmp_path)
    survivor, absorbed = _person_of("s0"), _person_of("s1")
    invalid = {"message_id": "w-bad", "source": "dsn", "type": "employment.declared",
               "version": 1, "person": survivor, "published_at": "2021-02-01T00:00:00+01:00",
               "data": {"employer": "nope"}}
    merge = orjson.dumps({"message_id": "m-1", "source": "dsn", "type": "person.merged",
                          "version": 1, "person": survivor,
                          "published_at": "2021-02-01T00:00:00+01:00",
                          "data": {"absorbed": absorbed, "merged_on": "2021-01-15"}})
    refusal = Transfer(run.cluster.ledgers["s1"].person_key(absorbed), None,
                       Reason.ALREADY_MERGED, "merged into another person").encode()
    feed = run.names.feed
    sent = [(None, None), (MERGE_REQUEST, b"{}"), (FORWARD, orjson.dumps(invalid)),
            (TRANSFER, transfer_value(merge, refusal)), (CLOSE, orjson.dumps(_CLOSE))]
    client = support.producer(run.kafka)
    for offset, (kind, value) in enumerate(sent):
        headers = [] if kind is None else [
            (KIND_HEADER, kind.encode()), (ORIGIN_HEADER, Origin(feed, 2, 40 + offset).encode())]
        client.send(run.control, value=value or b"not json", partition=0, headers=headers)
    client.flush()
    client.close()
    _consume_until_settled(run, tmp_path)
    try:
        letters = support.read_topic(run.kafka, run.names.dead_letters)
        places = sorted((support.header(r, "source-topic"), int(support.header(r,
                         "source-partition")), int(support.header(r, "source-offset")),
                         support.header(r, "reason")) for r in letters)
        assert places == [(run.control, 0, 0, "malformed"), (run.control, 0, 1, "malformed"),
                          (feed, 2, 42, "schema_violation"), (feed, 2, 43, "already_merged")]
        by_offset = {int(support.header(r, "source-offset")): r for r in letters}
        assert by_offset[42].value == orjson.dumps(invalid)
        assert by_offset[42].key == survivor.encode() and by_offset[43].value == merge
        first = run.cluster.ledgers["s0"]
        outcomes = first.app.ledger_recorder.select_receipts([
            (CONTROL_SOURCE, f"{run.control}:0:0"), (CONTROL_SOURCE, f"{run.control}:0:1"),
            ("dsn", "w-bad"), ("dsn", "m-1"), ("operator", "close-2020")])
        assert {key: (r.outcome, r.reason) for key, r in outcomes.items()} == {
            (CONTROL_SOURCE, f"{run.control}:0:0"): ("rejected", "malformed"),
            (CONTROL_SOURCE, f"{run.control}:0:1"): ("rejected", "malformed"),
            ("dsn", "w-bad"): ("rejected", "schema_violation"),
            ("dsn", "m-1"): ("rejected", "already_merged"),
            ("operator", "close-2020"): ("accepted", None)}
        assert run.positions(run.control)[0] == len(sent)
        # A crash after each commit and before its dead letter: the partition's recovery
        # range, read back, gives the same dead letters (the undecodable ones were sent first).
        again = recover(first, [InboundRecord(r.topic, r.partition, r.offset, r.key, r.value,
                                              tuple(r.headers))
                                for r in support.read_topic(run.kafka, run.control)])
        assert [(letter.record.offset, letter.reason, letter.record.value)
                for letter in again] == [(42, "schema_violation", orjson.dumps(invalid)),
                                         (43, "already_merged", merge)]
    finally:
        run.close()


def _consume_until_settled(run: ShardedRun, tmp_path: Path) -> None:
    """One `consume` process until the shards hold every record, then stopped cleanly."""
    log = tmp_path / "consume.log"
    process = support.start_cli("consume", run.environment("consumer-1"), log)
    try:
        run.wait_settled()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(EXIT_TIMEOUT_S) == 0, _tail(log)


_CLOSE = {"message_id": "close-2020", "source": "operator", "type": "accrual.year.closed",
          "version": 1, "published_at": "2021-04-15T00:00:00+02:00",
          "data": {"year": 2020, "credited_on": "2021-04-15"}}


def _person_of(shard: str) -> str:
    """An identifier whose partition belongs to `shard`."""
    for number in range(1_000):
        identifier = with_key(f"18403751{number:05d}")
        if identifier_partition(identifier, PARTITIONS) in SHARD_PARTITIONS[shard]:
            return identifier
    raise AssertionError(shard)
