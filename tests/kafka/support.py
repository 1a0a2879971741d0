"""Helpers of the Kafka tests: topics, producing a feed, reading a topic back, the consumer as
a subprocess, waiting for recorded positions, and what two ledgers must agree on."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import AggregateNotFoundError
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from consumers.positions import PositionStore
from ledger.application import Ledger
from ledger.identity import aggregate_id
from ledger.state import PersonState
from projections.reader import Reader

REPOSITORY = Path(__file__).resolve().parents[2]
PERSON_KEY_SECRET = "kafka-tests-secret"
REQUEST_TIMEOUT_MS = 15_000
TOPIC_READY_TIMEOUT_MS = 15_000
FLUSH_TIMEOUT_S = 60.0
READ_POLL_TIMEOUT_MS = 500
READ_TIMEOUT_S = 60.0
WAIT_POLL_INTERVAL_S = 0.2
PRODUCE_BATCH_MAX_BYTES = 512 * 1024
PRODUCE_REQUEST_MAX_BYTES = 2 * 1024 * 1024
AS_OF_DAYS = (dt.date(2019, 6, 30), dt.date(2030, 1, 1))


@dataclass(frozen=True)
class Names:
    """Topics, group and database schema of one test (the broker and cluster are shared)."""

    feed: str
    dead_letters: str
    postings: str
    group: str
    schema: str

    @classmethod
    def fresh(cls, label: str) -> Names:
        tag = f"{label}-{uuid.uuid4().hex[:8]}"
        return cls(f"feed-{tag}", f"dlq-{tag}", f"postings-{tag}", f"group-{tag}",
                   f"k_{label}_{tag[-8:]}".replace("-", "_"))


def create_topics(bootstrap: str, partitions: Mapping[str, int]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cpa-tests-admin",
                             request_timeout_ms=REQUEST_TIMEOUT_MS)
    try:
        admin.create_topics(
            {name: {"num_partitions": count, "replication_factor": 1}
             for name, count in partitions.items()},
            timeout_ms=TOPIC_READY_TIMEOUT_MS, wait_for_metadata=True)
    finally:
        admin.close()


def fresh_schema(postgres_url: str, schema: str) -> str:
    """A new empty schema; the URL of a ledger store in it."""
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.execute(f'CREATE SCHEMA "{schema}"')
    return f"{postgres_url}?schema={schema}"


def producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, client_id="cpa-tests-producer",
                         enable_idempotence=True, acks="all", linger_ms=5,
                         batch_size=PRODUCE_BATCH_MAX_BYTES,
                         max_request_size=PRODUCE_REQUEST_MAX_BYTES,
                         request_timeout_ms=REQUEST_TIMEOUT_MS, allow_auto_create_topics=False)


def produce(client: KafkaProducer, topic: str,
            records: Sequence[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
    """Send and confirm every record; its (partition, offset) in order."""
    futures = [client.send(topic, key=key, value=value) for key, value in records]
    client.flush(timeout=FLUSH_TIMEOUT_S)
    placed = [future.get(timeout=FLUSH_TIMEOUT_S) for future in futures]
    return [(metadata.partition, metadata.offset) for metadata in placed]


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="cpa-tests-offsets",
                             group_id=None, enable_auto_commit=False,
                             request_timeout_ms=REQUEST_TIMEOUT_MS)
    try:
        numbers = sorted(consumer.partitions_for_topic(topic))
        partitions = [TopicPartition(topic, n) for n in numbers]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of the topic, up to its end offsets when called."""
    ends = {n: end for n, end in end_offsets(bootstrap, topic).items() if end > 0}
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="cpa-tests-reader",
                             group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", request_timeout_ms=REQUEST_TIMEOUT_MS)
    records: list[Any] = []
    try:
        wanted = [TopicPartition(topic, n) for n in ends]
        consumer.assign(wanted)
        consumer.seek_to_beginning(*wanted)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while any(consumer.position(tp) < ends[tp.partition] for tp in wanted):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in consumer.poll(timeout_ms=READ_POLL_TIMEOUT_MS).values():
                records += batch
    finally:
        consumer.close()
    return records


def header(record: Any, name: str) -> str:
    values = [value for key, value in record.headers if key == name]
    assert len(values) == 1, (name, record.headers)
    return bytes(values[0]).decode("utf-8")


def consumer_environment(database_url: str, bootstrap: str, names: Names,
                         instance: str | None = "consumer-1") -> dict[str, str]:
    environment = {
        **os.environ,
        "CPA_DATABASE_URL": database_url,
        "CPA_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CPA_KAFKA_TOPICS": names.feed,
        "CPA_KAFKA_GROUP": names.group,
        "CPA_KAFKA_DLQ_TOPIC": names.dead_letters,
        "CPA_KAFKA_POSTINGS_TOPIC": names.postings,
        "CPA_PERSON_KEY_SECRET": PERSON_KEY_SECRET,
        "PYTHONPATH": str(REPOSITORY),
    }
    if instance is not None:
        environment["CPA_KAFKA_GROUP_INSTANCE_ID"] = instance
    return environment


def ingest_environment(database_url: str) -> dict[str, str]:
    return {**os.environ, "CPA_DATABASE_URL": database_url,
            "CPA_PERSON_KEY_SECRET": PERSON_KEY_SECRET, "PYTHONPATH": str(REPOSITORY)}


def start_cli(command: str, environment: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m ledger.cli COMMAND` with its stderr appended to a log file."""
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "ledger.cli", command],
                                env=environment, cwd=REPOSITORY, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)


def ledger_at_secret(database_url: str) -> Ledger:
    """A ledger on that store with the tests' person-key secret (as the subprocesses use)."""
    from ledger.config import Settings

    return Ledger(Settings.from_environment({"CPA_DATABASE_URL": database_url,
                                             "CPA_PERSON_KEY_SECRET": PERSON_KEY_SECRET}))


def recorded_positions(ledger: Ledger, topic: str, partitions: Iterable[int]) -> dict[int, int]:
    stored = PositionStore(ledger).read([(topic, n) for n in partitions])
    return {partition: value.recorded or 0 for (_, partition), value in stored.items()}


def wait_recorded(ledger: Ledger, topic: str, ends: Mapping[int, int], timeout_s: float,
                  alive: Any = None) -> None:
    """Block until every partition's recorded position reaches its end offset."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            positions = recorded_positions(ledger, topic, ends)
        except Exception:  # the store is restarting: ask again
            positions = {}
        if positions and all(positions[n] >= end for n, end in ends.items()):
            return
        assert time.monotonic() < deadline, f"not recorded in {timeout_s} s: {positions} {ends}"
        if alive is not None:
            alive()
        time.sleep(WAIT_POLL_INTERVAL_S)


def outcomes(ledger: Ledger) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every first outcome, without what depends on the channel or the clock."""
    rows: dict[tuple[str, str], tuple[Any, ...]] = {}
    after = ("", "")
    while True:
        page = ledger.app.ledger_recorder.select_receipts_page(after, 5_000)
        if not page:
            return rows
        for receipt in page:
            rows[(receipt.source, receipt.message_id)] = (
                receipt.digest, receipt.outcome, receipt.reason, receipt.detail,
                receipt.person_key, receipt.message_type)
        after = (page[-1].source, page[-1].message_id)


def repeat_count(ledger: Ledger, excluding: Iterable[str] = ()) -> int:
    """Repeats recorded, but for those of the `excluding` sources (the shards' own marks)."""
    datastore: Any = ledger.app.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as curs:
        curs.execute(f'SELECT count(*) AS n FROM "{datastore.schema}".message_repeats'
                     " WHERE NOT source = ANY(%s)", (list(excluding),))
        return int(curs.fetchone()["n"])


def person_documents(ledger: Ledger, identifiers: Iterable[str]) -> dict[str, Any]:
    """Per person: the account version, its state without recording times, and balances."""
    reader = Reader(ledger)
    documents: dict[str, Any] = {}
    for identifier in identifiers:
        key = ledger.person_key(identifier)
        try:
            account: Any = ledger.app.repository.get(aggregate_id(key))
        except AggregateNotFoundError:  # never heard of: compared as such
            documents[identifier] = None
            continue
        documents[identifier] = {
            "version": account.version,
            "state": _timeless(account.state),
            "balances": [reader.balance(identifier, day) for day in AS_OF_DAYS],
        }
    return documents


def _timeless(state: PersonState) -> dict[str, Any]:
    document = state.to_json()
    document["postings"] = [{k: v for k, v in posting.items() if k != "recorded_at"}
                            for posting in document["postings"]]
    return document


def kafka_settings(bootstrap: str, names: Names, client_id: str = "cpa-tests") -> Any:
    from consumers.settings import KafkaSettings

    return KafkaSettings(bootstrap_servers=(bootstrap,), topics=(names.feed,), group=names.group,
                         group_instance_id=None, dead_letter_topic=names.dead_letters,
                         postings_topic=names.postings, client_id=client_id, metrics_port=None)


def in_process_loop(ledger: Ledger, settings: Any, sender_class: Any = None) -> Any:
    """The inbound loop built as `consumers.cli.build_inbound` does, with a sender of choice."""
    from consumers import clients
    from consumers.deadletters import DeadLetterSender, RangeReader
    from consumers.loop import InboundLoop, Listener, Wiring
    from consumers.metrics import Metrics

    listener = Listener()
    consumer = clients.group_consumer(settings, listener)
    listener.consumer = consumer
    sender = (sender_class or DeadLetterSender)(clients.producer(settings, "dlq"),
                                                settings.dead_letter_topic)
    return InboundLoop(Wiring(ledger=ledger, consumer=consumer, listener=listener, sender=sender,
                              make_reader=lambda: RangeReader(clients.reader(settings)),
                              metrics=Metrics(), stream=sys.stderr))


def deduplicated(dead_letters: Iterable[Any]) -> dict[tuple[int, int], Any]:
    """Dead letters by (source-partition, source-offset): the readers' dedupe key."""
    return {(int(header(r, "source-partition")), int(header(r, "source-offset"))): r
            for r in dead_letters}
