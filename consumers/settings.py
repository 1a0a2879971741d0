"""The Kafka shell's settings: the ledger's `Settings` (interfaces.md §4) plus a few variables of
its own, read once at start-up, frozen and typed."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from consumers import limits
from consumers.control import CONTROL_TOPIC
from ledger.config import ConfigurationError, Settings, Variable

DEAD_LETTER_TOPIC = "cpa.feed.dlq.v1"
POSTINGS_TOPIC = "cpa.ledger.postings.v1"

VARIABLES = (
    Variable("CPA_KAFKA_GROUP_INSTANCE_ID", None,
             "static group membership id of this consumer process (e.g. the pod name): a "
             "restarted process takes its partitions back at once, without a rebalance"),
    Variable("CPA_KAFKA_SESSION_TIMEOUT_MS", str(limits.SESSION_TIMEOUT_MS),
             "how long the group waits for a silent member before moving its partitions; with "
             f"a static id, longer than a restart ({limits.SESSION_TIMEOUT_MS_MIN}-"
             f"{limits.SESSION_TIMEOUT_MS_MAX})"),
    Variable("CPA_KAFKA_DLQ_TOPIC", DEAD_LETTER_TOPIC,
             "dead-letter topic: rejected inbound records, with reason headers"),
    Variable("CPA_KAFKA_POSTINGS_TOPIC", POSTINGS_TOPIC,
             "outbound topic: every posting and order decision"),
    Variable("CPA_KAFKA_CONTROL_TOPIC", CONTROL_TOPIC,
             "with a shard map: the topic through which shards pass year closes, merges and "
             "forwarded messages (as many partitions as the inbound topics)"),
    Variable("CPA_KAFKA_CLIENT_ID", None, "Kafka client id (default cpa-ledger-HOST-PID)"),
    Variable("CPA_METRICS_PORT", None,
             "serve the consumer's metrics in Prometheus text format on this port (unset: none)"),
)


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """Everything the Kafka processes need, checked once."""

    bootstrap_servers: tuple[str, ...]
    topics: tuple[str, ...]
    group: str
    group_instance_id: str | None
    dead_letter_topic: str
    postings_topic: str
    client_id: str
    metrics_port: int | None
    session_timeout_ms: int = limits.SESSION_TIMEOUT_MS
    control_topic: str = CONTROL_TOPIC

    @classmethod
    def from_environment(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> KafkaSettings:
        values = dict(os.environ if environ is None else environ)
        if not settings.kafka_bootstrap_servers:
            raise ConfigurationError("CPA_KAFKA_BOOTSTRAP_SERVERS is required for Kafka")
        if not settings.kafka_topics:
            raise ConfigurationError("CPA_KAFKA_TOPICS names no topic")
        return cls(
            bootstrap_servers=_split(settings.kafka_bootstrap_servers),
            topics=settings.kafka_topics,
            group=settings.kafka_group,
            group_instance_id=values.get("CPA_KAFKA_GROUP_INSTANCE_ID") or None,
            session_timeout_ms=_session_timeout_ms(values.get("CPA_KAFKA_SESSION_TIMEOUT_MS")),
            dead_letter_topic=values.get("CPA_KAFKA_DLQ_TOPIC") or DEAD_LETTER_TOPIC,
            postings_topic=values.get("CPA_KAFKA_POSTINGS_TOPIC") or POSTINGS_TOPIC,
            client_id=values.get("CPA_KAFKA_CLIENT_ID")
            or f"cpa-ledger-{socket.gethostname()}-{os.getpid()}",
            metrics_port=_port(values.get("CPA_METRICS_PORT")),
            control_topic=values.get("CPA_KAFKA_CONTROL_TOPIC") or CONTROL_TOPIC,
        )


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _port(text: str | None) -> int | None:
    if not text:
        return None
    try:
        port = int(text)
    except ValueError as error:
        raise ConfigurationError(f"CPA_METRICS_PORT is not a port number: {text!r}") from error
    if not 0 < port < 65_536:
        raise ConfigurationError(f"CPA_METRICS_PORT is out of range: {port}")
    return port


def _session_timeout_ms(text: str | None) -> int:
    if not text:
        return limits.SESSION_TIMEOUT_MS
    try:
        timeout_ms = int(text)
    except ValueError as error:
        raise ConfigurationError(
            f"CPA_KAFKA_SESSION_TIMEOUT_MS is not a whole number: {text!r}") from error
    if not limits.SESSION_TIMEOUT_MS_MIN <= timeout_ms <= limits.SESSION_TIMEOUT_MS_MAX:
        raise ConfigurationError(
            f"CPA_KAFKA_SESSION_TIMEOUT_MS must be {limits.SESSION_TIMEOUT_MS_MIN} to"
            f" {limits.SESSION_TIMEOUT_MS_MAX}, not {timeout_ms}")
    return timeout_ms


def describe() -> str:
    """The variables of the Kafka shell, their defaults and meaning (for the README)."""
    return "\n".join(
        f"  {v.name:<28} {v.description} (default: {v.default or 'unset'})" for v in VARIABLES
    )
