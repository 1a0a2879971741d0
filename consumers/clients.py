"""The Kafka clients, built with every option explicit at the call site (kafka-python 3.x).

(Named `clients`, not `kafka`, so that no run from this folder can shadow kafka-python.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.coordinator.assignors.range import RangePartitionAssignor

from consumers import limits
from consumers.settings import KafkaSettings
from ledger.config import ConfigurationError


def group_consumer(settings: KafkaSettings, listener: Any) -> Any:
    """The inbound consumer: a member of the group, subscribed with a rebalance listener.

    Positions live in the ledger's database; Kafka's committed offsets are only a hint, so
    auto-commit is off and `auto_offset_reset` only matters for a partition the database has
    never seen (and for a stored position the broker no longer has: retention was too short,
    which the loop reports as a gap)."""
    consumer = KafkaConsumer(
        bootstrap_servers=list(settings.bootstrap_servers),
        client_id=settings.client_id,
        group_id=settings.group,
        group_instance_id=settings.group_instance_id,
        key_deserializer=None,
        value_deserializer=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        partition_assignment_strategy=(RangePartitionAssignor,),
        allow_auto_create_topics=False,
        exclude_internal_topics=True,
        **_membership_options(settings.session_timeout_ms),
        **_fetch_options(),
        **_connection_options(),
    )
    consumer.subscribe(topics=list(settings.topics), listener=listener)
    return consumer


def require_topics(consumer: Any, topics: Iterable[str]) -> None:
    """Fail at start-up, naming them, when topics are missing: the brokers do not create topics
    on first use (a misspelt name must not become a new topic), and a missing dead-letter topic
    would otherwise block every send for `PRODUCE_BLOCK_MAX_MS`."""
    missing = sorted(set(topics) - set(consumer.topics()))
    if missing:
        raise ConfigurationError(f"Kafka topics missing (create them first): {', '.join(missing)}")


def reader(settings: KafkaSettings) -> Any:
    """A consumer outside any group, for reading back a range of records (manual assign)."""
    return KafkaConsumer(
        bootstrap_servers=list(settings.bootstrap_servers),
        client_id=f"{settings.client_id}-reader",
        group_id=None,
        group_instance_id=None,
        key_deserializer=None,
        value_deserializer=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        allow_auto_create_topics=False,
        exclude_internal_topics=True,
        **_fetch_options(),
        **_connection_options(),
    )


def producer(settings: KafkaSettings, role: str) -> Any:
    """An idempotent producer (acks from every in-sync replica, ordered retries), raw bytes."""
    return KafkaProducer(
        bootstrap_servers=list(settings.bootstrap_servers),
        client_id=f"{settings.client_id}-{role}",
        key_serializer=None,
        value_serializer=None,
        enable_idempotence=True,
        transactional_id=None,
        acks="all",
        retries=limits.PRODUCE_RETRIES_MAX,
        delivery_timeout_ms=limits.DELIVERY_TIMEOUT_MS,
        max_in_flight_requests_per_connection=limits.IN_FLIGHT_REQUESTS_MAX,
        linger_ms=limits.PRODUCE_LINGER_MS,
        batch_size=limits.PRODUCE_BATCH_MAX_BYTES,
        compression_type=None,
        max_request_size=limits.PRODUCE_REQUEST_MAX_BYTES,
        max_block_ms=limits.PRODUCE_BLOCK_MAX_MS,
        allow_auto_create_topics=False,
        **_connection_options(),
    )


def _membership_options(session_timeout_ms: int) -> dict[str, Any]:
    return {
        "session_timeout_ms": session_timeout_ms,
        "heartbeat_interval_ms": limits.HEARTBEAT_INTERVAL_MS,
        "max_poll_interval_ms": limits.MAX_POLL_INTERVAL_MS,
        "max_poll_records": limits.BATCH_RECORDS_MAX,
    }


def _fetch_options() -> dict[str, Any]:
    return {
        "fetch_min_bytes": limits.FETCH_MIN_BYTES,
        "fetch_max_wait_ms": limits.FETCH_MAX_WAIT_MS,
        "fetch_max_bytes": limits.FETCH_MAX_BYTES,
        "max_partition_fetch_bytes": limits.PARTITION_FETCH_MAX_BYTES,
        # Records of aborted producer transactions are never fed to the ledger.
        "isolation_level": "read_committed",
        "check_crcs": True,
    }


def _connection_options() -> dict[str, Any]:
    return {
        "request_timeout_ms": limits.REQUEST_TIMEOUT_MS,
        "retry_backoff_ms": limits.RETRY_BACKOFF_MS,
        "reconnect_backoff_ms": limits.RECONNECT_BACKOFF_MS,
        "reconnect_backoff_max_ms": limits.RECONNECT_BACKOFF_MAX_MS,
        "connections_max_idle_ms": limits.CONNECTIONS_MAX_IDLE_MS,
        "metadata_max_age_ms": limits.METADATA_MAX_AGE_MS,
        "bootstrap_timeout_ms": limits.BOOTSTRAP_TIMEOUT_MS,
        # None: negotiated with the broker at bootstrap (Apache Kafka 4.x speaks every version
        # kafka-python 3 uses); pin it only for a broker that misreports its versions.
        "api_version": None,
        "security_protocol": "PLAINTEXT",
    }
