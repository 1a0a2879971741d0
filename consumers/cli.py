"""`cpa-ledger consume` and `cpa-ledger publish`: the composition roots of the Kafka processes.

Each builds its clients from the settings, installs SIGTERM/SIGINT handlers that only set a
flag (the loop finishes its batch, records it, then closes), and runs until that flag is set.
Exit status 0 after a clean stop; 1 with a one-line reason when the store or the broker stayed
unavailable past the retry bound (nothing is half-recorded: a restart resumes exactly).
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from consumers import clients, limits
from consumers.control import ControlSender
from consumers.crossing import Crossing
from consumers.deadletters import DeadLetterSender, RangeReader
from consumers.failures import is_transient
from consumers.loop import InboundLoop, Listener, Wiring
from consumers.metrics import Metrics, log, serve
from consumers.publisher import PostingsPublisher
from consumers.settings import KafkaSettings
from ledger import shards
from ledger.application import Ledger
from ledger.cli import EXIT_FAILURE
from ledger.cluster import Cluster
from ledger.config import ConfigurationError, Settings
from ledger.shards import ShardMap

EXIT_SUCCESS = 0


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (the handler does nothing else)."""
    stopping = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopping.set())
    return stopping


def build_inbound(ledger: Ledger, settings: KafkaSettings, metrics: Metrics, stream: TextIO,
                  batch_records_max: int = limits.BATCH_RECORDS_MAX,
                  cluster: Cluster | None = None) -> InboundLoop:
    """The inbound loop with its clients (the one place they are made); `cluster`: the shards'
    ledgers when a shard map is configured."""
    listener = Listener()
    if cluster is not None:  # the shards' control partitions are consumed as inbound ones
        settings = dataclasses.replace(settings,
                                       topics=(*settings.topics, settings.control_topic))
    consumer = clients.group_consumer(settings, listener)
    listener.consumer = consumer
    clients.require_topics(consumer, [*settings.topics, settings.dead_letter_topic])
    sender = DeadLetterSender(clients.producer(settings, "dlq"), settings.dead_letter_topic)
    crossing = None
    if cluster is not None:
        require_partitions(consumer, settings.topics, cluster.map)
        crossing = Crossing(cluster, ControlSender(clients.producer(settings, "control"),
                                                   settings.control_topic), sender)
    return InboundLoop(Wiring(
        ledger=ledger, consumer=consumer, listener=listener, sender=sender,
        make_reader=lambda: RangeReader(clients.reader(settings)),
        metrics=metrics, stream=stream, cluster=cluster, crossing=crossing), batch_records_max)


def require_partitions(consumer: Any, topics: Sequence[str], shard_map: ShardMap) -> None:
    """Every consumed topic has the map's partition count: a person's partition, hence shard,
    is murmur2 modulo that count (a topic with more partitions would route people elsewhere)."""
    for topic in topics:
        count = len(consumer.partitions_for_topic(topic) or ())
        if count != shard_map.partitions:
            raise ConfigurationError(f"topic {topic} has {count} partitions, the shard map "
                                     f"{shard_map.partitions}")


def run_consume(arguments: argparse.Namespace, settings: Settings) -> int:
    settings.warn_if_insecure()
    kafka_settings = KafkaSettings.from_environment(settings)
    stopping = stop_on_signals()
    metrics = Metrics()
    port = arguments.metrics_port or kafka_settings.metrics_port
    shard_map = shards.load(settings.database_url)
    with Cluster.open(settings, shard_map) as cluster, _metrics_server(metrics, port):
        for _, ledger in cluster:
            ledger.identity.refuse_writes()  # a replay: say so once, before joining the group
        log(sys.stderr, "consume_started", topics=list(kafka_settings.topics),
            group=kafka_settings.group, instance=kafka_settings.group_instance_id,
            shards=[shard.name for shard in shard_map.shards])
        return _until_stopped(lambda: build_inbound(
            cluster.first, kafka_settings, metrics, sys.stderr,
            cluster=None if shard_map.is_single else cluster).run(stopping))


def run_publish(arguments: argparse.Namespace, settings: Settings) -> int:
    kafka_settings = KafkaSettings.from_environment(settings)
    stopping = stop_on_signals()
    metrics = Metrics()
    with Ledger(settings) as ledger:
        reader = clients.reader(kafka_settings)
        clients.require_topics(reader, [kafka_settings.postings_topic])
        reader.close()
        producer = clients.producer(kafka_settings, "publish")
        publisher = PostingsPublisher(ledger, producer, kafka_settings.postings_topic, metrics,
                                      sys.stderr)
        log(sys.stderr, "publish_started", topic=kafka_settings.postings_topic,
            position=publisher.position())
        return _until_stopped(lambda: publisher.run(stopping))


def _until_stopped(run: Callable[[], None]) -> int:
    try:
        run()
    except Exception as error:
        if not is_transient(error):
            raise
        print(f"cpa-ledger: gave up after repeated failures: {error!r}"[:400], file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_SUCCESS


@contextmanager
def _metrics_server(metrics: Metrics, port: int | None) -> Iterator[None]:
    if port is None:
        yield
        return
    server = serve(metrics, port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
