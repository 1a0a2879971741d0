"""The session's PostgreSQL server and Kafka broker are real, reachable and survive restarts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from psycopg import sql

from deploy.local.kafka import KafkaBroker
from deploy.local.postgres import PostgresServer

# The oldest PostgreSQL the project is tested on: Debian 12's, which CI and deploy/local use.
SERVER_VERSION_MIN = 150000
CONNECT_TIMEOUT_S = 10

RECORD_COUNT = 100
KEY_COUNT = 10
TOPIC_PARTITION_COUNT = 3
REQUEST_TIMEOUT_MS = 10_000
TOPIC_READY_TIMEOUT_MS = 10_000
FLUSH_TIMEOUT_S = 30
CONSUME_TIMEOUT_S = 30
POLL_TIMEOUT_MS = 500
POLL_RECORDS_MAX = 500


@pytest.mark.postgres
def test_postgres_answers_a_query(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, connect_timeout=CONNECT_TIMEOUT_S) as connection:
        assert connection.execute("select 1").fetchone() == (1,)


@pytest.mark.postgres
def test_postgres_is_version_15_or_newer(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, connect_timeout=CONNECT_TIMEOUT_S) as connection:
        shown = connection.execute("show server_version_num").fetchone()
        assert shown is not None
        assert int(shown[0]) == connection.info.server_version
        assert connection.info.server_version >= SERVER_VERSION_MIN


@pytest.mark.postgres
def test_postgres_serves_the_cpa_database(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, connect_timeout=CONNECT_TIMEOUT_S) as connection:
        assert connection.execute("select current_database()").fetchone() == ("cpa",)


@pytest.mark.postgres
def test_postgres_keeps_committed_rows_across_a_restart(postgres_server: PostgresServer) -> None:
    table = sql.Identifier(f"restart_{uuid.uuid4().hex}")
    with psycopg.connect(postgres_server.url, connect_timeout=CONNECT_TIMEOUT_S) as connection:
        connection.execute(sql.SQL("create table {} (n integer)").format(table))
        connection.execute(sql.SQL("insert into {} values (1), (2)").format(table))
    postgres_server.restart()
    with psycopg.connect(postgres_server.url, connect_timeout=CONNECT_TIMEOUT_S) as connection:
        rows = connection.execute(sql.SQL("select n from {} order by n").format(table)).fetchall()
        connection.execute(sql.SQL("drop table {}").format(table))
    assert rows == [(1,), (2,)]


@pytest.mark.kafka
def test_kafka_returns_every_record_in_key_order(kafka_bootstrap_servers: str) -> None:
    topic = _create_topic(kafka_bootstrap_servers, TOPIC_PARTITION_COUNT)
    sent = [(f"key-{n % KEY_COUNT}", f"value-{n}") for n in range(RECORD_COUNT)]
    _produce(kafka_bootstrap_servers, topic, sent)
    with _subscribed_consumer(kafka_bootstrap_servers, topic) as consumer:
        received = _consume(consumer, RECORD_COUNT)
    assert sorted(received) == sorted(sent)
    for key in {key for key, _ in sent}:  # Kafka orders the records of one key.
        assert [v for k, v in received if k == key] == [v for k, v in sent if k == key]


@pytest.mark.kafka
def test_kafka_spreads_keys_over_the_partitions(kafka_bootstrap_servers: str) -> None:
    topic = _create_topic(kafka_bootstrap_servers, TOPIC_PARTITION_COUNT)
    sent = [(f"key-{n % KEY_COUNT}", f"value-{n}") for n in range(RECORD_COUNT)]
    partitions = _produce(kafka_bootstrap_servers, topic, sent)
    assert partitions == set(range(TOPIC_PARTITION_COUNT))


@pytest.mark.kafka
def test_kafka_keeps_records_across_a_clean_restart(kafka_broker: KafkaBroker) -> None:
    _assert_records_survive(kafka_broker, kafka_broker.restart)


@pytest.mark.kafka
def test_kafka_keeps_acknowledged_records_across_a_crash(kafka_broker: KafkaBroker) -> None:
    def crash_and_start() -> None:
        kafka_broker.kill()
        kafka_broker.restart()

    _assert_records_survive(kafka_broker, crash_and_start)


def _assert_records_survive(broker: KafkaBroker, interruption: Callable[[], None]) -> None:
    topic = _create_topic(broker.bootstrap_servers, TOPIC_PARTITION_COUNT)
    sent = [(f"key-{n % KEY_COUNT}", f"value-{n}") for n in range(RECORD_COUNT)]
    _produce(broker.bootstrap_servers, topic, sent)
    interruption()
    with _assigned_consumer(broker.bootstrap_servers, topic) as consumer:
        received = _consume(consumer, RECORD_COUNT)
    assert sorted(received) == sorted(sent)


def _create_topic(bootstrap_servers: str, partition_count: int) -> str:
    topic = f"test.services.{uuid.uuid4().hex}"
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="test-services-admin",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        bootstrap_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    try:
        admin.create_topics(
            {topic: {"num_partitions": partition_count, "replication_factor": 1}},
            timeout_ms=REQUEST_TIMEOUT_MS,
        )
        admin.wait_for_topics([topic], timeout_ms=TOPIC_READY_TIMEOUT_MS)
    finally:
        admin.close()
    return topic


def _produce(bootstrap_servers: str, topic: str, records: list[tuple[str, str]]) -> set[int]:
    """Send and wait for every acknowledgement; the partitions that took the records."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id="test-services-producer",
        acks="all",
        enable_idempotence=True,
        compression_type=None,
        retries=5,
        linger_ms=5,
        batch_size=16_384,
        max_in_flight_requests_per_connection=5,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        delivery_timeout_ms=2 * REQUEST_TIMEOUT_MS,
        max_block_ms=REQUEST_TIMEOUT_MS,
        allow_auto_create_topics=False,
    )
    try:
        futures = [producer.send(topic, key=k.encode(), value=v.encode()) for k, v in records]
        producer.flush(timeout=FLUSH_TIMEOUT_S)
        return {future.get(timeout=FLUSH_TIMEOUT_S).partition for future in futures}
    finally:
        producer.close(timeout=FLUSH_TIMEOUT_S)


def _consumer(bootstrap_servers: str, group_id: str | None) -> Any:
    return KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        client_id="test-services-consumer",
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        check_crcs=True,
        max_poll_records=POLL_RECORDS_MAX,
        fetch_max_wait_ms=100,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
        request_timeout_ms=REQUEST_TIMEOUT_MS + 20_000,
        allow_auto_create_topics=False,
    )


@contextmanager
def _subscribed_consumer(bootstrap_servers: str, topic: str) -> Iterator[Any]:
    """A consumer-group member: exercises the group coordinator and __consumer_offsets."""
    consumer = _consumer(bootstrap_servers, group_id=f"test-services-{uuid.uuid4().hex}")
    try:
        consumer.subscribe([topic])
        yield consumer
    finally:
        consumer.close(autocommit=False)


@contextmanager
def _assigned_consumer(bootstrap_servers: str, topic: str) -> Iterator[Any]:
    consumer = _consumer(bootstrap_servers, group_id=None)
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(TOPIC_PARTITION_COUNT)])
        consumer.seek_to_beginning()
        yield consumer
    finally:
        consumer.close(autocommit=False)


def _consume(consumer: Any, count: int) -> list[tuple[str, str]]:
    """Poll until `count` records came back or CONSUME_TIMEOUT_S passed."""
    received: list[tuple[str, str]] = []
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    while len(received) < count and time.monotonic() < deadline:
        batches = consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=POLL_RECORDS_MAX)
        for records in batches.values():
            received.extend((r.key.decode(), r.value.decode()) for r in records)
    return received
