"""What the inbound loop does with records that concern another shard (see `consumers.control`
for the protocol and why it is exactly once). Only with a shard map: a single store has no
other shard, and its loop never asks this module anything."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from eventsourcing.persistence import Tracking

import schemas
from consumers.batch import Entry
from consumers.control import (
    CLOSE,
    FORWARD,
    MERGE_REQUEST,
    TRANSFER,
    Control,
    ControlSender,
    Origin,
    Received,
    received,
    transfer_parts,
    transfer_value,
)
from consumers.positions import process_recorder
from ledger.application import YEAR_CLOSE_TYPE, Ledger
from ledger.batch import Result
from ledger.cluster import Cluster
from ledger.identity import is_valid
from ledger.storage import BatchRecords, Receipt
from ledger.transfers import (
    Crossings,
    Transfer,
    crossings,
    give_up,
    mark,
    merging_key,
    moved_key,
    take_over,
)
from schemas import Message

# Kinds of unit: a run of ordinary entries (None), or one entry handled here.
FAN_OUT, FORWARD_OUT, REQUEST_OUT, CONTROL_IN = "fan-out", "forward-out", "request-out", "control"
# A person's message that must wait (a cross-shard merge of theirs is in flight): the loop
# leaves its partition where it is and reads it again a moment later.
HOLD = "hold"
MERGE_TYPE = "person.merged"


@dataclass(frozen=True, slots=True)
class Unit:
    kind: str | None
    entries: list[Entry]
    target: int | None = None  # FORWARD_OUT: the partition the person moved to


class Crossing:
    """Classifies a shard's entries and handles those that concern other shards."""

    def __init__(self, cluster: Cluster, sender: ControlSender) -> None:
        self.cluster = cluster
        self.map = cluster.map
        self.sender = sender

    # Classifying.

    def units(self, ledger: Ledger, shard_name: str, entries: Sequence[Entry]) -> Iterator[Unit]:
        """Runs of ordinary entries, and each entry for another shard on its own, in order."""
        keys = sorted(self._person_keys(ledger, entries))
        marks = crossings(ledger, keys)
        run: list[Entry] = []
        for entry in entries:
            unit = self._special(ledger, shard_name, entry, marks)
            if unit is None:
                run.append(entry)
                continue
            if run:
                yield Unit(None, run)
                run = []
            yield unit
            if unit.kind in (REQUEST_OUT, CONTROL_IN):
                marks = crossings(ledger, keys)  # the step just handled may have set marks
        if run:
            yield Unit(None, run)

    def _special(self, ledger: Ledger, shard_name: str, entry: Entry,
                 marks: Crossings) -> Unit | None:
        if entry.record.topic == self.sender.topic:
            return Unit(CONTROL_IN, [entry])
        message = entry.item
        if not isinstance(message, Message):
            return None
        if message.type == YEAR_CLOSE_TYPE:
            return Unit(FAN_OUT, [entry])
        if message.person is not None and is_valid(message.person):
            person_key = ledger.person_key(message.person)
            if person_key in marks.waiting:
                return Unit(HOLD, [entry])
            target = marks.moved.get(person_key)
            if target is not None:
                return Unit(FORWARD_OUT, [entry], target)
        if message.type == MERGE_TYPE and self._absorbed_elsewhere(ledger, shard_name, message):
            return Unit(REQUEST_OUT, [entry])
        return None

    def _person_keys(self, ledger: Ledger, entries: Sequence[Entry]) -> set[str]:
        return {ledger.person_key(entry.item.person) for entry in entries
                if isinstance(entry.item, Message) and entry.item.person is not None
                and is_valid(entry.item.person)}

    def _absorbed_elsewhere(self, ledger: Ledger, shard_name: str, message: Message) -> bool:
        """A merge whose absorbed identifier lives on another shard, not decided before (a
        message seen again is decided here: a duplicate)."""
        absorbed = message.data.get("absorbed")
        if not isinstance(absorbed, str) or not is_valid(absorbed):
            return False
        if self.map.shard_of(absorbed).name == shard_name:
            return False
        key = (message.source, message.message_id)
        return not ledger.app.ledger_recorder.select_receipts([key])

    # Handling: each ends with `trackings` (the entry's positions) recorded on `ledger`.

    def handle(self, unit: Unit, ledger: Ledger, trackings: Sequence[Tracking]) -> list[Result]:
        entry = unit.entries[0]
        origin = Origin.of(entry.record)
        value = entry.record.value or b""
        if unit.kind == FAN_OUT:
            self.sender.send([Control(shard, CLOSE, value, origin) for shard in self.map.shards])
        elif unit.kind == FORWARD_OUT:
            assert unit.target is not None
            self.sender.send([Control(self.map.shard_of_partition(unit.target), FORWARD, value,
                                      origin)])
        elif unit.kind == REQUEST_OUT:
            message = entry.item
            assert isinstance(message, Message) and message.person is not None
            absorbed = str(message.data["absorbed"])
            self.sender.send([Control(self.map.shard_of(absorbed), MERGE_REQUEST, value,
                                      origin)])
            waiting = mark(ledger, merging_key(ledger.person_key(message.person)),
                           f"{message.source}/{message.message_id}", message)
            save_trackings(ledger, trackings, [waiting] if waiting else [])
            return []
        else:
            return self._received(entry, received(entry.record), ledger, trackings)
        save_trackings(ledger, trackings)
        return []

    def _received(self, entry: Entry, control: Received, ledger: Ledger,
                  trackings: Sequence[Tracking]) -> list[Result]:
        if control.kind in (CLOSE, FORWARD):
            return self._copy(entry, control, ledger, trackings)
        if control.kind == MERGE_REQUEST:
            moved = self._give_up(control, ledger)
            save_trackings(ledger, trackings, [moved] if moved else [])
            return []
        assert control.kind == TRANSFER
        raw, transfer = transfer_parts(control.value)
        message = schemas.parse(raw)
        assert isinstance(message, Message), "only valid merges are transferred"
        result = take_over(ledger, message, Transfer.decode(transfer), trackings)
        return [] if result is None else [result]

    def _copy(self, entry: Entry, control: Received, ledger: Ledger,
              trackings: Sequence[Tracking]) -> list[Result]:
        """A close or forwarded message: decided here unless this copy was already."""
        name = control.origin.tracking_name()
        done = process_recorder(ledger).max_tracking_id(name)
        if done is not None and control.origin.offset < done:
            save_trackings(ledger, trackings)
            return []
        item = schemas.parse(control.value)
        return ledger.ingest([item], fallback_keys=[entry.fallback_key],
                             trackings=[*trackings, Tracking(name, control.origin.offset + 1)],
                             channel="kafka")

    def _give_up(self, control: Received, ledger: Ledger) -> Receipt | None:
        """Step 2 of `ledger.transfers`; the "moved" mark to record once the transfer is sent
        (None when the merge was refused, or the mark is recorded already)."""
        message = schemas.parse(control.value)
        assert isinstance(message, Message) and message.person is not None
        partition = self.map.partition_of(message.person)
        assert partition is not None
        transfer = give_up(ledger, message, partition)
        self.sender.send([Control(self.map.shard_of(message.person), TRANSFER,
                                  transfer_value(control.value, transfer.encode()),
                                  control.origin)])
        if transfer.state is None:
            return None
        return mark(ledger, moved_key(transfer.absorbed_key), str(partition), message)


def save_trackings(ledger: Ledger, trackings: Sequence[Tracking],
                   receipts: Sequence[Receipt] = ()) -> None:
    ledger.app.save(records=BatchRecords(receipts=list(receipts), trackings=list(trackings)))
