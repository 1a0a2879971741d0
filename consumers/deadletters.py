"""Dead letters (contract §5): every rejected inbound record goes to the dead-letter topic with
its original key and value bytes and the headers `reason`, `detail`, `source-topic`,
`source-partition`, `source-offset`.

Exactly right under crashes. The ledger decides and records a batch in one transaction, and
only then are its rejections known (most are business rules: insufficient rights, a conflicting
duplicate, ...), so dead letters cannot be produced before that commit. Instead:
1. the batch commits with the partition's `kafka:` position (events, outcomes, position);
2. its dead letters are produced by an idempotent producer, flushed, and every future checked;
3. then the partition's `kafka-dlq:` watermark moves to the batch's end (a small transaction of
   tracking rows; a partition's first one commits with its first batch, so that the range
   below is always defined).
A crash between 1 and 3 leaves the watermark behind the position. Whoever is next assigned the
partition reads that recovery range back from Kafka (at most one batch), finds the outcome the
ledger recorded for each record, produces the rejected ones again, and moves the watermark.
Nothing is lost; a record may reach the dead-letter topic twice (crash between 2 and 3), so
readers dedupe on (`source-topic`, `source-partition`, `source-offset`), unique per record.

Why not the alternatives: producing before the commit only works for what the schemas refuse,
not for the ledger's decisions; an outbox table would have to commit inside `Ledger.ingest`'s
transaction, which takes tracking rows but no rows of ours. The recovery range needs no table
of its own: Kafka keeps the original bytes, the ledger keeps each record's outcome.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kafka import TopicPartition
from kafka.errors import KafkaError

from consumers import limits
from consumers.batch import Entry, InboundRecord, Partition, ledger_key, parse
from ledger.outcomes import MessageOutcome
from ledger.storage import Receipt

Key = tuple[str, str]

HEADER_NAMES = ("reason", "detail", "source-topic", "source-partition", "source-offset")


class DeliveryFailed(Exception):
    """The broker did not confirm every dead letter (or outbound record) of a batch."""


class RecoveryMismatch(Exception):
    """A recovery range holds more records of a key than the ledger recorded outcomes for:
    the range was not recorded as its position says. A broken invariant: stop."""


class Outcome(Protocol):
    """What the ledger says of one message: a `Result` now, or a stored `Receipt`."""

    @property
    def outcome(self) -> str: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def detail(self) -> str: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: InboundRecord
    reason: str
    detail: str

    def headers(self) -> list[tuple[str, bytes]]:
        detail = self.detail.encode("utf-8")[: limits.DETAIL_HEADER_MAX_BYTES]
        values = (self.reason.encode("utf-8"), detail, self.record.topic.encode("utf-8"),
                  str(self.record.partition).encode("ascii"),
                  str(self.record.offset).encode("ascii"))
        return list(zip(HEADER_NAMES, values, strict=True))


def dead_letters(pairs: Iterable[tuple[Entry, Outcome]]) -> list[DeadLetter]:
    """The rejected records among (entry, outcome) pairs, in order."""
    return [DeadLetter(entry.record, outcome.reason or "rejected", outcome.detail)
            for entry, outcome in pairs if outcome.outcome is MessageOutcome.REJECTED]


def attribute(
    entries: Sequence[Entry], history: Mapping[Key, Sequence[Receipt]]
) -> list[tuple[Entry, Receipt]]:
    """Pair each entry of a recovery range with the outcome recorded for it.

    `history` holds, per key, every recorded arrival in recording order (first outcome, then
    repeats). The range is the partition's last recorded transaction, so its entries of a key
    are that key's last arrivals: the n-th last entry of a key is its n-th last receipt. This
    holds as long as one message (source, message_id) always travels under one Kafka key, as
    the contract's "key = person identifier" makes it (a key is only ever on one partition)."""
    groups: dict[Key, list[Entry]] = defaultdict(list)
    for entry in entries:
        groups[ledger_key(entry)].append(entry)
    pairs: list[tuple[Entry, Receipt]] = []
    for key, group in groups.items():
        receipts = history.get(key, ())
        if len(receipts) < len(group):
            raise RecoveryMismatch(f"{len(group)} records of {key} but {len(receipts)} outcomes")
        pairs.extend(zip(group, receipts[len(receipts) - len(group):], strict=True))
    pairs.sort(key=lambda pair: pair[0].record.offset)
    return pairs


class DeadLetterSender:
    """Produces dead letters and returns only once the broker confirmed every one."""

    def __init__(self, producer: Any, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    def send(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        futures = [self.producer.send(self.topic, key=letter.record.key,
                                      value=letter.record.value, headers=letter.headers())
                   for letter in letters]
        confirm(self.producer, futures)

    def close(self) -> None:
        self.producer.close(timeout=limits.FLUSH_TIMEOUT_S)


def confirm(producer: Any, futures: Sequence[Any]) -> None:
    """Flush, then check every future: a send is confirmed only by its own acknowledgement."""
    try:
        producer.flush(timeout=limits.FLUSH_TIMEOUT_S)
        for future in futures:
            future.get(timeout=limits.FLUSH_TIMEOUT_S)
    except KafkaError as error:
        raise DeliveryFailed(f"the broker did not confirm {len(futures)} records: {error!r}") \
            from error


class RangeReader:
    """Reads back [start, end) of one partition with a consumer outside the group."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer

    def read(self, partition: Partition, start: int, end: int) -> list[InboundRecord]:
        where = TopicPartition(*partition)
        self.consumer.assign([where])
        self.consumer.seek(where, start)
        records: list[InboundRecord] = []
        deadline = time.monotonic() + limits.RECOVERY_READ_TIMEOUT_S
        while self.consumer.position(where) < end:
            if time.monotonic() > deadline:
                raise DeliveryFailed(f"could not read back {partition} [{start}, {end})")
            polled = self.consumer.poll(timeout_ms=limits.RECOVERY_POLL_TIMEOUT_MS)
            records += [InboundRecord(r.topic, r.partition, r.offset, r.key, r.value,
                                      tuple(r.headers or ()))
                        for r in polled.get(where, ()) if start <= r.offset < end]
        return records

    def close(self) -> None:
        self.consumer.close(autocommit=False)


def recover(
    reader: RangeReader, receipts: Any, partition: Partition, bounds: tuple[int, int]
) -> list[DeadLetter]:
    """The dead letters of a recovery range, from the outcomes the ledger recorded."""
    entries = parse(reader.read(partition, *bounds))
    keys = list(dict.fromkeys(ledger_key(entry) for entry in entries))
    first = receipts.select_receipts(keys)
    history = {key: [first[key], *receipts.select_repeats(*key)] for key in keys if key in first}
    return dead_letters(attribute(entries, history))
