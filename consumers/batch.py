"""The pure part of the loop: polled records in, validated entries and the transactions they
form out. No I/O: tested without a broker.

A polled batch becomes one ledger transaction, except around a year close
(`accrual.year.closed`), which the ledger records as a sweep of its own: the batch is cut
before and after it, so that every `Ledger.ingest` call here is exactly one unit of work with
its own positions, and a crash between two of them repeats nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import schemas
from ledger.application import YEAR_CLOSE_TYPE, Item
from schemas import Message

Partition = tuple[str, int]  # (topic, partition), equal to kafka-python's TopicPartition


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """One Kafka record as the loop sees it: where it is, and its raw bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def where(self) -> Partition:
        return (self.topic, self.partition)


@dataclass(frozen=True, slots=True)
class Entry:
    """A record with its validation result and the key that names it when it has no id."""

    record: InboundRecord
    item: Item
    fallback_key: tuple[str, str]


def fallback_key(record: InboundRecord) -> tuple[str, str]:
    """Names a record that has no readable (source, message_id): its place in Kafka."""
    return (f"kafka:{record.topic}", f"{record.partition}:{record.offset}")


def ledger_key(entry: Entry) -> tuple[str, str]:
    """The key the ledger records the entry's outcome under (as `Ledger.ingest` derives it)."""
    item = entry.item
    if item.source is not None and item.message_id is not None:
        return (item.source, item.message_id)
    return entry.fallback_key


def parse(records: Iterable[InboundRecord]) -> list[Entry]:
    """Validate every record's value; a missing value (a tombstone) is malformed like any
    undecodable bytes."""
    return [Entry(record, schemas.parse(record.value or b""), fallback_key(record))
            for record in records]


def is_year_close(entry: Entry) -> bool:
    return isinstance(entry.item, Message) and entry.item.type == YEAR_CLOSE_TYPE


def transactions(entries: Sequence[Entry]) -> Iterator[list[Entry]]:
    """Runs of entries, each year close on its own, in order."""
    run: list[Entry] = []
    for entry in entries:
        if is_year_close(entry):
            if run:
                yield run
                run = []
            yield [entry]
        else:
            run.append(entry)
    if run:
        yield run


def next_offsets(entries: Iterable[Entry]) -> dict[Partition, int]:
    """Per partition, the offset after the last entry: the position once they are recorded."""
    positions: dict[Partition, int] = {}
    for entry in entries:
        record = entry.record
        positions[record.where] = max(positions.get(record.where, 0), record.offset + 1)
    return positions


def first_offsets(entries: Iterable[Entry]) -> dict[Partition, int]:
    """Per partition, the offset of the first entry."""
    firsts: dict[Partition, int] = {}
    for entry in entries:
        firsts.setdefault(entry.record.where, entry.record.offset)
    return firsts


def unseen(
    records: Iterable[InboundRecord], positions: Mapping[Partition, int | None]
) -> list[InboundRecord]:
    """The records at or after their partition's position (None: the partition was never
    consumed, every record is new). The others are dropped: records already recorded (a fetch
    that was in flight when the loop moved the position), or of a partition not positioned
    from the database yet (just assigned, or revoked)."""
    kept: list[InboundRecord] = []
    for record in records:
        if record.where not in positions:
            continue
        position = positions[record.where]
        if position is None or record.offset >= position:
            kept.append(record)
    return kept
