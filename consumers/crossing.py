"""What the inbound loop does with records that concern another shard (see `consumers.control`
for the protocol and why it is exactly once). Only with a shard map: a single store has no
other shard, and its loop never asks this module anything."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import orjson
from eventsourcing.persistence import Tracking

import schemas
from consumers.batch import Entry, InboundRecord, fallback_key, ledger_key
from consumers.control import (
    CLOSE,
    FORWARD,
    MERGE_REQUEST,
    TRANSFER,
    Control,
    ControlSender,
    MalformedControl,
    Origin,
    Received,
    received,
    transfer_parts,
    transfer_value,
)
from consumers.deadletters import DeadLetter, DeadLetterSender
from consumers.positions import process_recorder
from ledger.application import YEAR_CLOSE_TYPE, Ledger
from ledger.batch import Result
from ledger.cluster import Cluster
from ledger.identity import is_valid
from ledger.outcomes import MessageOutcome, Reason
from ledger.storage import BatchRecords, Receipt
from ledger.transfers import (
    Crossings,
    Transfer,
    crossings,
    fulfilled_key,
    give_up,
    mark,
    merging_marks,
    moved_key,
    take_over,
)
from schemas import Message

# Kinds of unit: a run of ordinary entries (None), or one entry handled here.
FAN_OUT, FORWARD_OUT, REQUEST_OUT, CONTROL_IN = "fan-out", "forward-out", "request-out", "control"
# A person's message that must wait (a cross-shard merge of theirs is in flight): the loop
# leaves its partition where it is and reads it again a moment later.
HOLD = "hold"
# A merge record delivered again after its request was sent and its transfer taken over (a
# crash before its position was recorded): only its position moves. A merge sent again by
# upstream (another record) has an outcome but no mark: decided here, it is a duplicate.
REDELIVERED = "redelivered"
MERGE_TYPE = "person.merged"
# The outcomes of control records that could not be decoded, by their place in Kafka.
CONTROL_SOURCE = "cpa-ledger.control"


class Undecodable(Exception):
    """A control record whose payload is not what its kind says."""


# What decoding a control record may raise: it is then dead-lettered as `malformed`.
DECODE_ERRORS = (MalformedControl, Undecodable, ValueError, KeyError, TypeError)


@dataclass(frozen=True, slots=True)
class Positions:
    """An entry's tracking rows: `moved` moves both of its partition's positions past it;
    `behind` moves only the recorded one, leaving the dead-letter watermark before it (the
    dead letters its outcome calls for are sent after the commit, then the watermark moves:
    `consumers.deadletters`)."""

    moved: list[Tracking]
    behind: list[Tracking]


@dataclass(frozen=True, slots=True)
class Handled:
    """What handling one unit gave: its results; with `behind`, the positions were recorded
    with the watermark left behind, and `letters` are to be sent before it moves."""

    results: list[Result]
    letters: list[DeadLetter] = field(default_factory=list)
    behind: bool = False
    sent: int = 0  # dead letters already sent (before the commit: an undecodable record)


@dataclass(frozen=True, slots=True)
class Unit:
    kind: str | None
    entries: list[Entry]
    target: int | None = None  # FORWARD_OUT: the partition the person moved to


class Crossing:
    """Classifies a shard's entries and handles those that concern other shards."""

    def __init__(self, cluster: Cluster, sender: ControlSender,
                 dead_letters: DeadLetterSender) -> None:
        self.cluster = cluster
        self.map = cluster.map
        self.sender = sender
        self.dead_letters = dead_letters

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
            return self._merge_unit(ledger, entry, message)
        return None

    def _merge_unit(self, ledger: Ledger, entry: Entry, message: Message) -> Unit | None:
        """A merge across shards: requested, unless decided already; then either this very
        record delivered again (its mark says so: only its position moves) or a message sent
        again by upstream (decided here: a duplicate)."""
        decided = ledger.app.ledger_recorder.select_receipts([(message.source,
                                                                message.message_id)])
        if not decided:
            return Unit(REQUEST_OUT, [entry])
        fulfilled = fulfilled_key(Origin.of(entry.record).encode().decode("utf-8"))
        if ledger.app.ledger_recorder.select_receipts([fulfilled]):
            return Unit(REDELIVERED, [entry])
        return None

    def _person_keys(self, ledger: Ledger, entries: Sequence[Entry]) -> set[str]:
        return {ledger.person_key(entry.item.person) for entry in entries
                if isinstance(entry.item, Message) and entry.item.person is not None
                and is_valid(entry.item.person)}

    def _absorbed_elsewhere(self, ledger: Ledger, shard_name: str, message: Message) -> bool:
        """A merge whose absorbed identifier lives on another shard."""
        absorbed = message.data.get("absorbed")
        if not isinstance(absorbed, str) or not is_valid(absorbed):
            return False
        return self.map.shard_of(absorbed).name != shard_name

    # Handling: each ends with the entry's positions recorded on `ledger`.

    def handle(self, unit: Unit, ledger: Ledger, positions: Positions) -> Handled:
        entry = unit.entries[0]
        origin = Origin.of(entry.record)
        value = entry.record.value or b""
        trackings = positions.moved
        if unit.kind == FAN_OUT:
            self.sender.send([Control(shard, CLOSE, value, origin) for shard in self.map.shards])
        elif unit.kind == FORWARD_OUT:
            assert unit.target is not None
            self.sender.send([Control(self.map.shard_of_partition(unit.target), FORWARD, value,
                                      origin)])
        elif unit.kind == REDELIVERED:
            pass
        elif unit.kind == REQUEST_OUT:
            message = entry.item
            assert isinstance(message, Message) and message.person is not None
            absorbed = str(message.data["absorbed"])
            self.sender.send([Control(self.map.shard_of(absorbed), MERGE_REQUEST, value,
                                      origin)])
            marks, repeats = merging_marks(ledger, ledger.person_key(message.person), message)
            ledger.app.save(records=BatchRecords(receipts=marks, repeats=repeats,
                                                 trackings=list(trackings)))
            return Handled([])
        else:
            return self._received(entry, ledger, positions)
        save_trackings(ledger, trackings)
        return Handled([])

    def _received(self, entry: Entry, ledger: Ledger, positions: Positions) -> Handled:
        try:
            control = received(entry.record)
            request = self._request(control) if control.kind == MERGE_REQUEST else None
            transfer = _transfer(control) if control.kind == TRANSFER else None
        except DECODE_ERRORS as error:
            return self._undecodable(entry.record, f"{type(error).__name__}: {error}", ledger,
                                     positions.moved)
        if request is not None:
            moved = self._give_up(control, request, ledger)
            save_trackings(ledger, positions.moved, [moved] if moved else [])
            return Handled([])
        if transfer is None:
            return self._copy(entry, control, ledger, positions)
        message, sent = transfer
        result = take_over(ledger, message, sent, positions.behind,
                           control.origin.encode().decode("utf-8"))
        results = [] if result is None else [result]
        return Handled(results, refused(control.origin, transfer_parts(control.value)[0],
                                        results),
                       behind=True)

    def _undecodable(self, record: InboundRecord, detail: str, ledger: Ledger,
                     trackings: Sequence[Tracking]) -> Handled:
        """Dead-lettered before its outcome and positions commit (both are known already); a
        crash in between sends it again, as readers of the dead letters expect."""
        letter = DeadLetter(record, Reason.MALFORMED, detail)
        self.dead_letters.send([letter])
        key = control_key(record)
        receipt = Receipt(source=key[0], message_id=key[1], digest=None,
                          outcome=MessageOutcome.REJECTED, reason=Reason.MALFORMED,
                          detail=detail, person_key=None, message_type=None,
                          recorded_at=ledger.now(), channel="kafka")
        known = ledger.app.ledger_recorder.select_receipts([key])
        save_trackings(ledger, trackings, [] if known else [receipt])
        return Handled([receipt.result()], sent=1)

    def _copy(self, entry: Entry, control: Received, ledger: Ledger,
              positions: Positions) -> Handled:
        """A close or forwarded message: decided here unless this copy was already."""
        name = control.origin.tracking_name()
        done = process_recorder(ledger).max_tracking_id(name)
        if done is not None and control.origin.offset < done:
            save_trackings(ledger, positions.moved)
            return Handled([])
        item = schemas.parse(control.value)
        results = ledger.ingest([item], fallback_keys=[entry.fallback_key],
                                trackings=[*positions.behind,
                                           Tracking(name, control.origin.offset + 1)],
                                channel="kafka")
        return Handled(results, refused(control.origin, control.value, results),
                       behind=True)

    def _give_up(self, control: Received, request: tuple[Message, int],
                 ledger: Ledger) -> Receipt | None:
        """Step 2 of `ledger.transfers`; the "moved" mark to record once the transfer is sent
        (None when the merge was refused, or the mark is recorded already). A refusal is
        dead-lettered by the survivor's shard, which records the merge's outcome."""
        message, partition = request
        assert message.person is not None
        transfer = give_up(ledger, message, partition)
        self.sender.send([Control(self.map.shard_of(message.person), TRANSFER,
                                  transfer_value(control.value, transfer.encode()),
                                  control.origin)])
        if transfer.state is None:
            return None
        return mark(ledger, moved_key(transfer.absorbed_key), str(partition), message)

    def _request(self, control: Received) -> tuple[Message, int]:
        """A merge request's message and the survivor's partition."""
        message = schemas.parse(control.value)
        if not isinstance(message, Message) or message.type != MERGE_TYPE \
                or message.person is None or not is_valid(message.person) \
                or not isinstance(message.data.get("absorbed"), str):
            raise Undecodable("a merge request's payload is not a valid person.merged message")
        partition = self.map.partition_of(message.person)
        assert partition is not None, "a control topic only exists with a shard map"
        return message, partition


def _transfer(control: Received) -> tuple[Message, Transfer]:
    raw, transfer = transfer_parts(control.value)
    message = schemas.parse(raw)
    if not isinstance(message, Message) or message.type != MERGE_TYPE \
            or message.person is None:
        raise Undecodable("a transfer's message is not a valid person.merged message")
    return message, Transfer.decode(transfer)


def _person(value: bytes) -> bytes | None:
    """The `person` of a message's bytes, if any (even of one the schemas refuse)."""
    try:
        person = orjson.loads(value).get("person")
    except (ValueError, AttributeError):
        return None
    return person.encode("utf-8") if isinstance(person, str) else None


def recover(ledger: Ledger, records: Sequence[InboundRecord]) -> list[DeadLetter]:
    """The dead letters of a control partition's recovery range: its records whose
    outcome was recorded with the watermark left behind (copies and transfers), refused.
    Undecodable records are never in it (sent before their commit)."""
    letters: list[DeadLetter] = []
    recorder = ledger.app.ledger_recorder
    for record in records:
        try:
            control = received(record)
            transfer = _transfer(control) if control.kind == TRANSFER else None
        except DECODE_ERRORS:
            continue
        if control.kind == MERGE_REQUEST:
            continue
        if transfer is not None:
            key = (transfer[0].source, transfer[0].message_id)
            value = transfer_parts(control.value)[0]
        else:
            entry = Entry(record, schemas.parse(control.value), fallback_key(record))
            key, value = ledger_key(entry), control.value
        first = recorder.select_receipts([key]).get(key)
        if first is None:
            continue
        last = ([first, *recorder.select_repeats(*key)])[-1]
        letters += refused(control.origin, value, [last])
    return letters


def control_key(record: InboundRecord) -> tuple[str, str]:
    """The outcome's key of a control record that could not be decoded: its place."""
    return (CONTROL_SOURCE, Origin.of(record).encode().decode("utf-8"))


def refused(origin: Origin, value: bytes,
            outcomes: Sequence[Result | Receipt]) -> list[DeadLetter]:
    """The dead letter of a copied or transferred message refused here: the inbound record
    it comes from, as a single store would dead-letter it (its place, the person as key),
    so that readers deduplicating on the place see it once (a close refused by every shard
    is sent by each)."""
    rejected = [o for o in outcomes if o.outcome is MessageOutcome.REJECTED]
    if not rejected:
        return []
    key = _person(value)
    record = InboundRecord(origin.topic, origin.partition, origin.offset, key, value)
    return [DeadLetter(record, rejected[0].reason or "rejected", rejected[0].detail)]


def save_trackings(ledger: Ledger, trackings: Sequence[Tracking],
                   receipts: Sequence[Receipt] = ()) -> None:
    ledger.app.save(records=BatchRecords(receipts=list(receipts), trackings=list(trackings)))
