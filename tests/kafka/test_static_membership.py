"""Static group membership, as deploy/k8s/consume.yaml relies on it: a consumer restarted under
its `group.instance.id` within the session timeout takes its own partitions back at once, and
the other members keep theirs without a rebalance (no revocation, no new assignment)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

import pytest
from kafka import ConsumerRebalanceListener

from consumers import clients
from consumers.settings import KafkaSettings
from tests.kafka.support import Names, create_topics, kafka_settings

PARTITIONS = 4
# Long enough that no member expires during the test; the restart takes about a second.
SESSION_TIMEOUT_MS = 60_000
POLL_TIMEOUT_MS = 100
STABLE_TIMEOUT_S = 60.0
# How long the others are watched for a rebalance while a member is away and back.
QUIET_S = 2.0


class Recorder(ConsumerRebalanceListener):  # type: ignore[misc]
    """Every revocation and assignment a member sees."""

    def __init__(self) -> None:
        self.events: list[tuple[str, frozenset[int]]] = []

    def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        partitions = frozenset(tp.partition for tp in revoked)
        if partitions:  # kafka-python also calls it, empty, before a new member's first join
            self.events.append(("revoked", partitions))

    def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        self.events.append(("assigned", frozenset(tp.partition for tp in assigned)))


def member(settings: KafkaSettings, instance_id: str) -> tuple[Any, Recorder]:
    recorder = Recorder()
    static = dataclasses.replace(settings, group_instance_id=instance_id,
                                 client_id=f"cpa-tests-{instance_id}",
                                 session_timeout_ms=SESSION_TIMEOUT_MS)
    return clients.group_consumer(static, recorder), recorder


def partitions(consumer: Any) -> frozenset[int]:
    return frozenset(tp.partition for tp in consumer.assignment())


def poll_until_stable(consumers: list[Any]) -> None:
    """Poll every member until their assignments are disjoint and cover the topic."""
    deadline = time.monotonic() + STABLE_TIMEOUT_S
    while time.monotonic() < deadline:
        for consumer in consumers:
            consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
        owned = [partitions(consumer) for consumer in consumers]
        if all(owned) and sum(map(len, owned)) == PARTITIONS \
                and frozenset().union(*owned) == frozenset(range(PARTITIONS)):
            return
    pytest.fail(f"the group did not settle in {STABLE_TIMEOUT_S} s")


def poll_for(consumers: list[Any], seconds: float) -> None:
    """Poll for `seconds`: time for the coordinator to tell of a rebalance, were there one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for consumer in consumers:
            consumer.poll(timeout_ms=POLL_TIMEOUT_MS)


@pytest.mark.kafka
def test_a_restarted_static_member_takes_its_partitions_back_without_a_rebalance(
        kafka_bootstrap_servers: str) -> None:
    names = Names.fresh("static")
    create_topics(kafka_bootstrap_servers, {names.feed: PARTITIONS})
    settings = kafka_settings(kafka_bootstrap_servers, names)
    first, first_recorder = member(settings, "consume-0")
    poll_until_stable([first])  # the first to join leads the group
    second, second_recorder = member(settings, "consume-1")
    consumers, recorders = [first, second], [first_recorder, second_recorder]
    try:
        poll_until_stable(consumers)
        for restarted in (0, 1):  # the group's leader, then the other member
            restart(settings, consumers, recorders, restarted)
    finally:
        for consumer in consumers:
            consumer.close()


def restart(settings: KafkaSettings, consumers: list[Any], recorders: list[Recorder],
            restarted: int) -> None:
    """Close member `restarted` and start it again under its instance id: it gets its own
    partitions back, and the other member sees nothing, neither while it is away nor after."""
    before = [partitions(consumer) for consumer in consumers]
    kept = 1 - restarted
    recorders[kept].events.clear()
    consumers[restarted].close()  # a static member sends no LeaveGroup
    poll_for([consumers[kept]], QUIET_S)
    consumers[restarted], recorders[restarted] = member(settings, f"consume-{restarted}")
    poll_until_stable(consumers)
    assert [partitions(consumer) for consumer in consumers] == before
    assert recorders[restarted].events == [("assigned", before[restarted])]
    assert recorders[kept].events == []  # the other member never paused
