"""The control topic: what one shard's consumer must tell another, through Kafka.

With a shard map, three kinds of inbound record concern more than the shard whose partition
holds them. The consumer that reads one sends a control record to the shard concerned, on that
shard's *control partition* (the first partition it owns, of `CPA_KAFKA_CONTROL_TOPIC`, which has
the inbound topics' partition count), waits for the broker's acknowledgement, and only then moves
its own position past the record (both of its tracking rows, in one transaction):

- `close`: a year close (`accrual.year.closed`, no person) is copied to every shard, which
  records its own close and sweep. Why a fan-out by the consumer rather than the producer or
  every consumer: the contract lets the operator send it once, unkeyed, to any partition; each
  shard's own consumer then sweeps its own persons, in parallel, at its own pace, and a shard
  that is down catches up when it is back without holding the others;
- `forward`: a message about an identifier merged into a person of another shard (the survivor's
  shard decides it, as a single store follows the merge);
- `merge-request` and `transfer`: an identity merge across shards (`ledger.transfers`).

Exactly once. A control record may be sent twice (a crash between the acknowledgement and the
position). `close` and `forward` copies carry their origin (topic, partition, offset); the
receiving shard records, with the copy's outcome, a tracking row per origin partition, and drops
a copy at or before it. All copies from one origin partition to one shard travel on one control
partition, so they arrive in their origin order. `merge-request` and `transfer` are idempotent
by the outcomes they record (see `ledger.transfers`).

Dead letters (`consumers.crossing`). A control record that cannot be decoded (no kind or
origin header, a payload that is not what its kind says) is dead-lettered as it is (`malformed`,
its own place as source) before its outcome (under `cpa-ledger.control`, by place) commits with
its positions. A close or forwarded copy, or a transfer, refused by the shard that decides it is
dead-lettered after its outcome commits, as inbound records are (the watermark left behind, then
moved): the dead letter is the inbound record it comes from (the origin's place, the message's
bytes, the person as key), as a single store would send it; a close refused by several shards
gives one dead letter per shard, with the same place (readers deduplicate on it). A merge
refused on the absorbed identifier's shard is dead-lettered by the survivor's, where the
transfer records the merge's outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from consumers.batch import InboundRecord
from consumers.deadletters import confirm
from ledger.shards import Shard

CONTROL_TOPIC = "cpa.ledger.control.v1"
KIND_HEADER = "cpa-control"
ORIGIN_HEADER = "cpa-origin"
CLOSE, FORWARD, MERGE_REQUEST, TRANSFER = "close", "forward", "merge-request", "transfer"
KINDS = frozenset({CLOSE, FORWARD, MERGE_REQUEST, TRANSFER})


class MalformedControl(Exception):
    """A control record without its headers: a broken invariant (only consumers write there)."""


@dataclass(frozen=True, slots=True)
class Origin:
    topic: str
    partition: int
    offset: int

    @classmethod
    def of(cls, record: InboundRecord) -> Origin:
        return cls(record.topic, record.partition, record.offset)

    def encode(self) -> bytes:
        return f"{self.topic}:{self.partition}:{self.offset}".encode()

    @classmethod
    def decode(cls, value: bytes) -> Origin:
        topic, partition, offset = value.decode("utf-8").rsplit(":", 2)
        return cls(topic, int(partition), int(offset))

    def tracking_name(self) -> str:
        """The receiving shard's tracking row for copies from this origin partition."""
        return f"origin:{self.topic}:{self.partition}"


@dataclass(frozen=True, slots=True)
class Control:
    """A control record to send to one shard."""

    shard: Shard
    kind: str
    value: bytes
    origin: Origin


@dataclass(frozen=True, slots=True)
class Received:
    """A control record as read: its kind, origin and payload."""

    kind: str
    origin: Origin
    value: bytes


def received(record: InboundRecord) -> Received:
    headers = dict(record.headers)
    kind = headers.get(KIND_HEADER, b"").decode("utf-8")
    if kind not in KINDS or ORIGIN_HEADER not in headers:
        raise MalformedControl(f"control record {record.where}@{record.offset} has no kind")
    return Received(kind, Origin.decode(headers[ORIGIN_HEADER]), record.value or b"")


def transfer_value(message: bytes, transfer: bytes) -> bytes:
    """A transfer's payload: the merge message's original bytes and what moves."""
    return orjson.dumps({"message": message.decode("utf-8"), "transfer": transfer.decode()})


def transfer_parts(value: bytes) -> tuple[bytes, bytes]:
    document = orjson.loads(value)
    return str(document["message"]).encode("utf-8"), str(document["transfer"]).encode("utf-8")


class ControlSender:
    """Sends control records and returns once the broker acknowledged every one."""

    def __init__(self, producer: object, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    def send(self, records: Sequence[Control]) -> None:
        futures = [
            self.producer.send(  # type: ignore[attr-defined]
                self.topic, value=record.value, partition=record.shard.partitions[0],
                headers=[(KIND_HEADER, record.kind.encode()),
                         (ORIGIN_HEADER, record.origin.encode())])
            for record in records]
        confirm(self.producer, futures)
