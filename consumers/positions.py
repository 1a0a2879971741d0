"""Consumed positions, kept in the ledger's database as eventsourcing tracking rows.

Two rows per inbound partition, both holding the *next* offset:
- `kafka:<topic>:<partition>`: recorded, written in the same transaction as the events and the
  outcomes of the records before it (the truth the consumer seeks to on every assignment);
- `kafka-dlq:<topic>:<partition>`: dead letters confirmed by the broker for every record before
  it, stored right after that confirmation. It trails the first only between a batch's commit
  and that confirmation: the records between the two are then the recovery range, whose dead
  letters may not have been sent when the process stopped (see `consumers.deadletters`).

The tracking upsert refuses to move a row backwards (or to keep it in place), which fences a
stale writer: its transaction fails instead of recording anything twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eventsourcing.persistence import ProcessRecorder, Tracking

from consumers.batch import Partition
from ledger.application import Ledger
from ledger.storage import BatchRecords


def recorded_name(partition: Partition) -> str:
    return f"kafka:{partition[0]}:{partition[1]}"


def dead_letters_name(partition: Partition) -> str:
    return f"kafka-dlq:{partition[0]}:{partition[1]}"


@dataclass(frozen=True, slots=True)
class Stored:
    """What the database says of one partition."""

    recorded: int | None  # next offset to record; None: never consumed
    dead_letters: int | None  # next offset whose dead letters are not confirmed

    def recovery_range(self) -> tuple[int, int] | None:
        """[start, end) of records recorded whose dead letters are not known to be sent."""
        if self.recorded is None:
            return None
        start = self.dead_letters if self.dead_letters is not None else self.recorded
        return (start, self.recorded) if start < self.recorded else None


class PositionStore:
    """Reads and writes the tracking rows of the inbound partitions."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.recorder = process_recorder(ledger)

    def read(self, partitions: Iterable[Partition]) -> dict[Partition, Stored]:
        return {
            partition: Stored(
                self.recorder.max_tracking_id(recorded_name(partition)),
                self.recorder.max_tracking_id(dead_letters_name(partition)),
            )
            for partition in partitions
        }

    def confirm_dead_letters(self, watermarks: dict[Partition, int]) -> None:
        """Store dead-letter watermarks on their own: one small transaction."""
        if watermarks:
            self.ledger.app.save(records=BatchRecords(trackings=dead_letter_trackings(watermarks)))


def recorded_trackings(positions: dict[Partition, int]) -> list[Tracking]:
    return [Tracking(recorded_name(partition), offset) for partition, offset in positions.items()]


def dead_letter_trackings(watermarks: dict[Partition, int]) -> list[Tracking]:
    return [Tracking(dead_letters_name(partition), offset)
            for partition, offset in watermarks.items()]


def process_recorder(ledger: Ledger) -> ProcessRecorder:
    """The ledger's recorder, which records tracking rows on every backend."""
    recorder = ledger.app.recorder
    assert isinstance(recorder, ProcessRecorder), "the ledger's recorders are process recorders"
    return recorder
