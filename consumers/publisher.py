"""The outbound stream (contract §5): every posting and every training-order decision the ledger
records, sent to `cpa.ledger.postings.v1`, keyed by person key.

A projection whose "table" is a Kafka topic: it follows the notification log page by page, sends
the page's records, waits until the broker confirmed every one (flush, then each future), and
only then moves its position row (`kafka-out:<topic>`, a tracking row in the ledger's
database). A crash resends at most the page in flight; every record carries an event id
`<notification_id>:<line>` (header `event-id` and body) for downstream deduplication, stable
across resends because the notification log never changes.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import orjson
from eventsourcing.persistence import Tracking

from consumers import limits
from consumers.deadletters import confirm
from consumers.failures import is_transient, wait_after
from consumers.metrics import Metrics, log
from consumers.positions import process_recorder
from ledger.application import Ledger
from ledger.changes import Absorbed, AnyChange, Change, OrderPlaced, OrderUpdated, Posted
from ledger.domain import PersonAccount

# Change classes sent downstream, and the record kind they become.
PUBLISHED_KINDS: Mapping[type[Change], str] = {
    Posted: "posting",
    OrderPlaced: "order_placed",
    OrderUpdated: "order_updated",
    Absorbed: "identity_merged",
}


def position_name(topic: str) -> str:
    return f"kafka-out:{topic}"


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def outbound_records(
    notification_id: int, event: PersonAccount.Applied, person_key: str
) -> Iterator[OutboundRecord]:
    """The records of one recorded event (pure): one per posting or order change."""
    for line, change in enumerate(event.changes):
        kind = PUBLISHED_KINDS.get(type(change))
        if kind is None:
            continue
        event_id = f"{notification_id}:{line}"
        body = {"event_id": event_id, "kind": kind, "person_key": person_key,
                "source": event.source, "message_id": event.message_id,
                "message_type": event.message_type,
                "recorded_at": event.timestamp.isoformat(), **_payload(change)}
        headers = [("event-id", event_id.encode("ascii")), ("kind", kind.encode("ascii"))]
        yield OutboundRecord(person_key.encode("ascii"), orjson.dumps(body), headers)


def _payload(change: AnyChange) -> dict[str, Any]:
    match change:
        case Posted():
            return {"posting": change.posting}
        case OrderPlaced():
            return {"order": change.order}
        case OrderUpdated():
            return {"order_id": change.order_id, "fields": change.fields}
        case Absorbed():
            return {"absorbed_key": change.absorbed_key}  # its postings moved here
    raise AssertionError(f"{change.kind} is not published")


class PersonKeys:
    """Person keys of the events' originators (an `Applied` event names only its aggregate)."""

    def __init__(self, ledger: Ledger, size_max: int = limits.PUBLISH_PERSON_KEYS_MAX) -> None:
        self.ledger = ledger
        self.size_max = size_max
        self._keys: OrderedDict[uuid.UUID, str] = OrderedDict()

    def remember(self, originator_id: uuid.UUID, person_key: str) -> None:
        self._keys[originator_id] = person_key
        self._keys.move_to_end(originator_id)
        while len(self._keys) > self.size_max:
            self._keys.popitem(last=False)

    def of(self, originator_id: uuid.UUID) -> str:
        known = self._keys.get(originator_id)
        if known is not None:
            return known
        opened = next(iter(self.ledger.app.events.get(originator_id, lte=1)))
        assert isinstance(opened, PersonAccount.Opened), "an account starts with Opened"
        self.remember(originator_id, opened.person_key)
        return opened.person_key


class PostingsPublisher:
    """Follows the notification log into the outbound topic."""

    def __init__(self, ledger: Ledger, producer: Any, topic: str, metrics: Metrics,
                 stream: TextIO,
                 page_size: int = limits.PUBLISH_PAGE_NOTIFICATIONS_MAX) -> None:
        self.ledger = ledger
        self.producer = producer
        self.topic = topic
        self.metrics = metrics
        self.stream = stream
        self.page_size = page_size
        self.recorder = process_recorder(ledger)
        self.person_keys = PersonKeys(ledger)

    def position(self) -> int:
        return self.recorder.max_tracking_id(position_name(self.topic)) or 0

    def publish_page(self) -> int:
        """Send the next page and move the position; the number of notifications (0: idle)."""
        notifications = self.recorder.select_notifications(
            start=self.position() + 1, limit=self.page_size, inclusive_of_start=True)
        if not notifications:
            return 0
        records = list(self.records_of(notifications))
        futures = [self.producer.send(self.topic, key=record.key, value=record.value,
                                      headers=record.headers) for record in records]
        confirm(self.producer, futures)
        self.recorder.insert_tracking(Tracking(position_name(self.topic), notifications[-1].id))
        self.metrics.count("published_records", len(records))
        self.metrics.count("published_notifications", len(notifications))
        return len(notifications)

    def records_of(self, notifications: Sequence[Any]) -> Iterator[OutboundRecord]:
        for notification in notifications:
            event = self.ledger.app.mapper.to_domain_event(notification)
            if isinstance(event, PersonAccount.Opened):
                self.person_keys.remember(event.originator_id, event.person_key)
            elif isinstance(event, PersonAccount.Applied):
                person_key = self.person_keys.of(event.originator_id)
                yield from outbound_records(notification.id, event, person_key)

    def run(self, stopping: threading.Event) -> None:
        """Publish until `stopping` is set; the page in flight is confirmed first."""
        failures = 0
        while not stopping.is_set():
            try:
                if self.publish_page() == 0:
                    stopping.wait(limits.PUBLISH_IDLE_WAIT_S)
                failures = 0
            except Exception as error:
                if not is_transient(error):
                    raise
                failures += 1
                wait_after(error, failures, stopping, self.metrics, self.stream)
        log(self.stream, "stopped", **self.metrics.snapshot())
        self.producer.close(timeout=limits.FLUSH_TIMEOUT_S)
