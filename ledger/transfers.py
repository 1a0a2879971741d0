"""An identity merge across shards: the absorbed identifier's history travels through Kafka.

`person.merged` arrives on the survivor's partition (its key is the survivor), but the absorbed
identifier's account lives on the shard of *its* partition. Three steps, each one transaction on
one shard, each idempotent, so that a crash between any two repeats nothing and loses nothing:

1. the survivor's shard sends a merge request to the absorbed identifier's shard (a control
   record, `consumers.control`), then records a "merging" mark on the survivor (its later
   messages wait for the merge's outcome) with its position past the message;
2. the absorbed identifier's shard (`give_up`) records, in one transaction, the absorbed
   account's `status_changed` (merged into the survivor), its own outcome of the transfer
   (`transfer_out_key`) and a "moving" mark that holds the identifier's later messages; then
   it sends the transfer (the absorbed account's state as it was before the merge) and only
   then records the "moved" mark (`moved_key`, which forwards those messages to the survivor's
   partition, behind the transfer) with its position. A second request finds the outcome and
   sends the same transfer again (the account is frozen from step 2 on: its later messages
   wait or are forwarded, closes skip merged accounts);
3. the survivor's shard (`take_over`) records the survivor's `absorbed` change and the follow-up
   credits, a stub account of the absorbed identifier pointing at the survivor (so that its
   forwarded messages find the survivor, as on a single store), and the message's outcome,
   exactly what a single store records; a second transfer finds that outcome and is dropped.

Marks are written once per person, but the "merging" mark names every merge across shards into
the survivor: the first in the mark itself, each later one in a repeat of it (`merging_marks`).
The survivor's messages wait while any of them has no outcome, so a second merge in flight
holds them as the first does (it is rare: the repeats are read only for a person whose first
merge is answered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from eventsourcing.persistence import Tracking

from ledger.application import Ledger, settlements_due
from ledger.batch import Batch, Result
from ledger.decide import merge
from ledger.domain import PersonAccount
from ledger.homes import PersonHomes
from ledger.outcomes import MessageOutcome, Reason, reason_of
from ledger.partitioner import murmur2
from ledger.rules.common import Context, Incoming, Rejected
from ledger.state import PersonState
from ledger.storage import Receipt
from schemas import Message

TRANSFER_SOURCE = "cpa-ledger.transfer-out"
MOVED_SOURCE = "cpa-ledger.moved"
MOVING_SOURCE = "cpa-ledger.moving"
MERGING_SOURCE = "cpa-ledger.merging"
FULFILLED_SOURCE = "cpa-ledger.fulfilled"
# The sources of the outcomes and marks the shards record for their own steps.
SHARD_SOURCES = frozenset({TRANSFER_SOURCE, MOVED_SOURCE, MOVING_SOURCE, MERGING_SOURCE,
                           FULFILLED_SOURCE})
MERGE_CHAIN_LENGTH_MAX = 16


@dataclass(frozen=True, slots=True)
class Transfer:
    """What the absorbed identifier's shard sends the survivor's: its account's state before
    the merge, or the reason the merge was refused there."""

    absorbed_key: str
    state: dict[str, Any] | None
    reason: Reason | None = None
    detail: str = ""

    def encode(self) -> bytes:
        return orjson.dumps({"absorbed_key": self.absorbed_key, "state": self.state,
                             "reason": self.reason, "detail": self.detail})

    @classmethod
    def decode(cls, value: bytes) -> Transfer:
        document = orjson.loads(value)
        return cls(str(document["absorbed_key"]), document["state"], reason_of(document["reason"]),
                   str(document["detail"]))


def transfer_out_key(message: Message) -> tuple[str, str]:
    return (TRANSFER_SOURCE, f"{message.source}/{message.message_id}")


def moved_key(person_key: str) -> tuple[str, str]:
    return (MOVED_SOURCE, person_key)


def moving_key(person_key: str) -> tuple[str, str]:
    return (MOVING_SOURCE, person_key)


def merging_key(person_key: str) -> tuple[str, str]:
    return (MERGING_SOURCE, person_key)


@dataclass(frozen=True, slots=True)
class Crossings:
    """Of a batch's persons: those merged away (their survivor's partition), and those whose
    messages must wait because a cross-shard merge of theirs is in flight."""

    moved: dict[str, int]
    waiting: set[str]


def crossings(ledger: Ledger, person_keys: Sequence[str]) -> Crossings:
    """One statement for the marks, more only when a merge was requested."""
    keys = [k for key in person_keys for k in (moved_key(key), moving_key(key), merging_key(key))]
    recorder = ledger.app.ledger_recorder
    found = recorder.select_receipts(keys)
    moved = {key[1]: int(r.detail) for key, r in found.items() if key[0] == MOVED_SOURCE}
    moving = {key[1] for key in found if key[0] == MOVING_SOURCE} - moved.keys()
    merging = {key[1]: _merge_key(r.detail) for key, r in found.items()
               if key[0] == MERGING_SOURCE}
    done = recorder.select_receipts(merging.values())
    unanswered = {person for person, key in merging.items() if key not in done}
    for person in sorted(merging.keys() - unanswered):  # a later merge may be in flight
        later = [_merge_key(r.detail) for r in recorder.select_repeats(*merging_key(person))]
        if later and len(recorder.select_receipts(later)) < len(set(later)):
            unanswered.add(person)
    return Crossings(moved, moving | unanswered)


def _merge_key(detail: str) -> tuple[str, str]:
    source, message_id = detail.split("/", 1)
    return (source, message_id)


def merging_marks(ledger: Ledger, person_key: str,
                  message: Message) -> tuple[list[Receipt], list[Receipt]]:
    """The "merging" mark naming `message` (a merge across shards into this person), to
    record as (receipts, repeats): the mark itself for the person's first, a repeat of it for
    a later one, nothing when it names this merge already."""
    key = merging_key(person_key)
    detail = f"{message.source}/{message.message_id}"
    recorder = ledger.app.ledger_recorder
    first = recorder.select_receipts([key]).get(key)
    receipt = Receipt(source=key[0], message_id=key[1], digest=message.digest,
                      outcome=MessageOutcome.ACCEPTED, reason=None, detail=detail,
                      person_key=person_key, message_type=message.type,
                      recorded_at=ledger.now(), channel="kafka")
    if first is None:
        return [receipt], []
    if detail == first.detail or detail in {r.detail for r in recorder.select_repeats(*key)}:
        return [], []
    return [], [receipt]


def mark(ledger: Ledger, key: tuple[str, str], detail: str, message: Message) -> Receipt | None:
    """A mark receipt to record, or None when it already is (marks are written once)."""
    if ledger.app.ledger_recorder.select_receipts([key]):
        return None
    return Receipt(source=key[0], message_id=key[1], digest=message.digest,
                   outcome=MessageOutcome.ACCEPTED, reason=None, detail=detail,
                   person_key=key[1], message_type=message.type, recorded_at=ledger.now(),
                   channel="kafka")


def moved_partitions(ledger: Ledger, person_keys: Sequence[str]) -> dict[str, int]:
    """Of these persons, those merged into a person of another shard: the partition of the
    survivor, where their messages now go."""
    found = ledger.app.ledger_recorder.select_receipts(moved_key(key) for key in person_keys)
    return {key[1]: int(receipt.detail) for key, receipt in found.items()}


def incoming_of(message: Message) -> Incoming:
    return Incoming(message.source, message.message_id, message.type, message.published_on,
                    message.data, message.supersedes)


# Step 2: on the absorbed identifier's shard.


def give_up(ledger: Ledger, message: Message, survivor_partition: int,
            trackings: Sequence[Tracking] = ()) -> Transfer:
    """Record the absorbed account's merge (once) and say what to transfer."""
    absorbed_key = ledger.person_key(str(message.data["absorbed"]))
    survivor_key = ledger.person_key(str(message.person))
    return ledger.write_batch(
        lambda batch: _give_up(ledger, batch, message, absorbed_key, survivor_key,
                               survivor_partition), trackings)


def _give_up(ledger: Ledger, batch: Batch, message: Message, absorbed_key: str,
             survivor_key: str, survivor_partition: int) -> Transfer:
    # Checked in the batch, so that a concurrent writer's conflict decides again from here.
    key = transfer_out_key(message)
    prior = ledger.app.ledger_recorder.select_receipts([key]).get(key)
    if prior is not None:
        return _recorded_transfer(ledger, absorbed_key, prior)
    absorbed = ledger.load_account(absorbed_key, batch)
    incoming = incoming_of(message)
    before = absorbed.state.to_json()
    try:
        gone, _ = merge(PersonState(person_key=survivor_key), absorbed.state, absorbed_key,
                        incoming)
    except Rejected as refusal:
        _receipt(ledger, batch, key, message, MessageOutcome.REJECTED, refusal.reason,
                 refusal.detail, absorbed_key)
        return Transfer(absorbed_key, None, refusal.reason, refusal.detail)
    ledger.record(absorbed, incoming, gone, batch)
    _receipt(ledger, batch, key, message, MessageOutcome.ACCEPTED, None,
             f"history moved to partition {survivor_partition}", absorbed_key)
    # Its messages wait until the transfer is sent and the "moved" mark forwards them.
    _receipt(ledger, batch, moving_key(absorbed_key), message, MessageOutcome.ACCEPTED, None,
             str(survivor_partition), absorbed_key)
    return Transfer(absorbed_key, before)


def _recorded_transfer(ledger: Ledger, absorbed_key: str, prior: Receipt) -> Transfer:
    """The transfer a previous try recorded: the frozen account before its last event."""
    if prior.outcome is MessageOutcome.REJECTED:
        return Transfer(absorbed_key, None, prior.reason, prior.detail)
    batch = Batch()
    account = ledger.load_account(absorbed_key, batch)
    before: Any = ledger.app.repository.get(account.id, version=account.version - 1)
    assert isinstance(before, PersonAccount)
    return Transfer(absorbed_key, before.state.to_json())


# Step 3: on the survivor's shard.


def fulfilled_key(origin: str) -> tuple[str, str]:
    """The mark of a merge message (by its place in Kafka, "topic:partition:offset") whose
    transfer was taken over: the same record delivered again is then not a duplicate."""
    return (FULFILLED_SOURCE, origin)


def take_over(ledger: Ledger, message: Message, transfer: Transfer,
              trackings: Sequence[Tracking] = (), origin: str | None = None) -> Result | None:
    """Record the merge on the survivor as a single store would, with the mark of the merge
    record at `origin`; None when it already is (a transfer sent twice): then only
    `trackings` are recorded."""
    return ledger.write_batch(
        lambda batch: _take_over(ledger, batch, message, transfer, origin), trackings)


def _take_over(ledger: Ledger, batch: Batch, message: Message, transfer: Transfer,
               origin: str | None) -> Result | None:
    key = (message.source, message.message_id)
    if ledger.app.ledger_recorder.select_receipts([key]):
        return None  # checked in the batch: a concurrent writer's conflict decides again
    if origin is not None:
        fulfilled = mark(ledger, fulfilled_key(origin), key[0] + "/" + key[1], message)
        if fulfilled is not None:
            batch.receipts.append(fulfilled)
    context = ledger.context()
    survivor = _followed(ledger, ledger.person_key(str(message.person)), batch)
    for close, outcome in settlements_due(survivor.state, context):
        ledger.record(survivor, close, outcome, batch)
    if transfer.state is None:
        return _receipt(ledger, batch, key, message, MessageOutcome.REJECTED, transfer.reason,
                        transfer.detail, survivor.person_key)
    notes = _absorb(ledger, batch, survivor, message, transfer, context)
    return _receipt(ledger, batch, key, message, MessageOutcome.ACCEPTED, None, "; ".join(notes),
                    survivor.person_key)


def _absorb(ledger: Ledger, batch: Batch, survivor: PersonAccount, message: Message,
            transfer: Transfer, context: Context) -> list[str]:
    assert transfer.state is not None
    incoming = incoming_of(message)
    gone, moved = merge(survivor.state, PersonState.from_json(transfer.state),
                        transfer.absorbed_key, incoming)
    stub = ledger.load_account(transfer.absorbed_key, batch)
    # The stub moves with the survivor when partitions move to another shard.
    PersonHomes(ledger).note_keys(
        [(transfer.absorbed_key, murmur2(str(message.person).encode("utf-8")))])
    return ledger.record_merge(survivor, stub, (gone, moved), incoming, context, batch)


def _followed(ledger: Ledger, key: str, batch: Batch) -> PersonAccount:
    account = ledger.load_account(key, batch)
    for _ in range(MERGE_CHAIN_LENGTH_MAX):
        if account.state.merged_into is None:
            return account
        account = ledger.load_account(account.state.merged_into, batch)
    raise RuntimeError(f"merge chain longer than {MERGE_CHAIN_LENGTH_MAX}")


def _receipt(ledger: Ledger, batch: Batch, key: tuple[str, str], message: Message,
             outcome: MessageOutcome, reason: Reason | None, detail: str,
             person_key: str) -> Result:
    receipt = Receipt(source=key[0], message_id=key[1], digest=message.digest,
                      outcome=outcome, reason=reason, detail=detail,
                      person_key=person_key, message_type=message.type,
                      recorded_at=ledger.now(), channel="kafka")
    result = receipt.result()
    batch.seen[key] = receipt
    batch.receipts.append(receipt)
    batch.results.append(result)
    return result
