"""`cpa-ledger publish`: every posting and order decision of the notification log reaches
`cpa.ledger.postings.v1`, keyed by person key, with an event id; a batch the broker did not
confirm is sent again (and only that one), so that deduplicating on the event id gives exactly
the log's postings."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka.errors import KafkaTimeoutError

import schemas
from consumers import clients
from consumers.deadletters import DeliveryFailed
from consumers.metrics import Metrics
from consumers.publisher import PostingsPublisher, position_name
from ledger.application import Ledger
from ledger.changes import to_builtins
from ledger.demo import DemoSettings, generate
from ledger.domain import PersonAccount
from tests.kafka import support
from tests.kafka.support import Names

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

POSTINGS_PARTITIONS = 3
PAGE_NOTIFICATIONS = 100
FAILING_PAGE = 3
CAUGHT_UP_TIMEOUT_S = 120.0
EXIT_TIMEOUT_S = 30.0
SENT_KINDS = {"posted": "posting", "order_placed": "order_placed",
              "order_updated": "order_updated", "absorbed": "identity_merged"}


class UnconfirmedPage:
    """A producer whose n-th flush sends everything but reports a timeout, as when the broker
    stored a batch and the acknowledgement was lost."""

    def __init__(self, producer: Any, failing_flush: int) -> None:
        self.producer = producer
        self.flushes = 0
        self.failing_flush = failing_flush

    def send(self, *arguments: Any, **options: Any) -> Any:
        return self.producer.send(*arguments, **options)

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout=timeout)
        self.flushes += 1
        if self.flushes == self.failing_flush:
            raise KafkaTimeoutError("acknowledgement lost (simulated)")

    def close(self, timeout: float | None = None) -> None:
        self.producer.close(timeout=timeout)


def _ledger_with_feed(postgres_url: str, names: Names) -> Ledger:
    ledger = support.ledger_at_secret(support.fresh_schema(postgres_url, names.schema))
    messages = list(generate(DemoSettings(persons=30, seed=5)))
    ledger.ingest([schemas.parse(orjson.dumps(m)) for m in messages])
    return ledger


def _expected(ledger: Ledger) -> dict[str, tuple[str, str, Any]]:
    """From the notification log itself: event id -> (person key, kind, change)."""
    recorder: Any = ledger.app.recorder
    keys: dict[Any, str] = {}
    expected: dict[str, tuple[str, str, Any]] = {}
    for notification in recorder.select_notifications(start=1, limit=10**9):
        event = ledger.app.mapper.to_domain_event(notification)
        if isinstance(event, PersonAccount.Opened):
            keys[event.originator_id] = event.person_key
        if isinstance(event, PersonAccount.Applied):
            for line, change in enumerate(event.changes):
                if change.kind in SENT_KINDS:
                    expected[f"{notification.id}:{line}"] = (
                        keys[event.originator_id], SENT_KINDS[change.kind], to_builtins(change))
    assert {kind for _, kind, _ in expected.values()} >= {"posting", "order_placed",
                                                           "order_updated"}
    return expected


def _received(kafka: str, topic: str) -> list[tuple[str, Any, dict[str, Any]]]:
    return [(support.header(r, "event-id"), r, orjson.loads(r.value))
            for r in support.read_topic(kafka, topic)]


def _check(received: list[tuple[str, Any, dict[str, Any]]],
           expected: dict[str, tuple[str, str, Any]]) -> None:
    assert {event_id for event_id, _, _ in received} == set(expected)
    for event_id, record, body in received:
        person_key, kind, change = expected[event_id]
        assert body["event_id"] == event_id
        assert record.key == person_key.encode()
        assert (body["person_key"], body["kind"]) == (person_key, kind)
        assert support.header(record, "kind") == kind
        if kind == "posting":
            assert body["posting"] == change["posting"]


def test_an_unconfirmed_batch_is_sent_again_and_only_it(
    kafka_bootstrap_servers: str, postgres_url: str
) -> None:
    kafka = kafka_bootstrap_servers
    names = Names.fresh("publish")
    support.create_topics(kafka, {names.postings: POSTINGS_PARTITIONS})
    ledger = _ledger_with_feed(postgres_url, names)
    settings = support.kafka_settings(kafka, names)
    flaky = UnconfirmedPage(clients.producer(settings, "publish"), FAILING_PAGE)
    publisher = PostingsPublisher(ledger, flaky, names.postings, Metrics(), sys.stderr,
                                  page_size=PAGE_NOTIFICATIONS)
    for _ in range(FAILING_PAGE - 1):
        assert publisher.publish_page() == PAGE_NOTIFICATIONS
    position = publisher.position()
    with pytest.raises(DeliveryFailed):
        publisher.publish_page()
    assert publisher.position() == position, "the position waits for the confirmation"
    flaky.close()
    restarted = PostingsPublisher(ledger, clients.producer(settings, "publish"), names.postings,
                                  Metrics(), sys.stderr, page_size=PAGE_NOTIFICATIONS)
    while restarted.publish_page():
        pass
    restarted.producer.close()
    expected = _expected(ledger)
    received = _received(kafka, names.postings)
    _check(received, expected)
    resent = len(received) - len(expected)
    page = [i for i in expected if position < int(i.split(":")[0]) <= position
            + PAGE_NOTIFICATIONS]
    assert 0 < resent <= len(page), "at most the unconfirmed batch is sent twice"
    ledger.close()


def test_the_publish_command_follows_the_log_and_stops_on_sigterm(
    kafka_bootstrap_servers: str, postgres_url: str, tmp_path: Path
) -> None:
    kafka = kafka_bootstrap_servers
    names = Names.fresh("pubcli")
    support.create_topics(kafka, {names.postings: POSTINGS_PARTITIONS})
    ledger = _ledger_with_feed(postgres_url, names)
    database_url = f"{postgres_url}?schema={names.schema}"
    process = support.start_cli("publish", support.consumer_environment(
        database_url, kafka, names), tmp_path / "publish.log")
    try:
        head = ledger.app.recorder.max_notification_id()
        recorder: Any = ledger.app.recorder
        deadline = time.monotonic() + CAUGHT_UP_TIMEOUT_S
        while (recorder.max_tracking_id(position_name(names.postings)) or 0) < (head or 0):
            assert process.poll() is None, (tmp_path / "publish.log").read_text()
            assert time.monotonic() < deadline, "the publisher did not catch up"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(EXIT_TIMEOUT_S) == 0
    received = _received(kafka, names.postings)
    _check(received, _expected(ledger))
    assert len(received) == len({event_id for event_id, _, _ in received}), "no resend"
    ledger.close()
