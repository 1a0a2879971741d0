"""The inbound loop: poll a bounded batch, validate, decide and record in one transaction with
the consumed positions, then send the batch's dead letters.

Why nothing is lost and nothing is applied twice:
- a batch's events, outcomes and `kafka:` positions commit together (`Ledger.ingest`), so after
  a crash anywhere the database says exactly which records are recorded;
- on every assignment (start, rebalance) and after every failure the loop seeks each partition
  to that stored position, never to Kafka's committed offsets (written after the commit, only as
  a hint for lag tools), and drops any record before it;
- a record delivered again anyway (a stale writer) is a `duplicate` by (source, message_id), and
  a stale position fails the tracking upsert, which refuses to move backwards;
- dead letters: see `consumers.deadletters` (a watermark per partition and a recovery range).

Failures of the store or the broker are retried with a bounded backoff: the batch in flight is
dropped (it did not commit, or it did and the database says so), the partitions are positioned
again from the database, and polling resumes. Past the bound the process exits non-zero.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition

from consumers import limits
from consumers.batch import (
    Entry,
    InboundRecord,
    Partition,
    first_offsets,
    next_offsets,
    parse,
    transactions,
    unseen,
)
from consumers.crossing import HOLD, Crossing, Positions, Unit
from consumers.crossing import recover as recover_control
from consumers.deadletters import DeadLetterSender, RangeReader, dead_letters, recover
from consumers.failures import PositionsMoved, is_transient, wait_after
from consumers.metrics import Metrics, MetricsLog, log
from consumers.positions import (
    Stored,
    dead_letter_trackings,
    recorded_trackings,
)
from consumers.sharding import Shards
from ledger.application import ConflictingWriters, Ledger
from ledger.batch import Result
from ledger.cluster import Cluster


@dataclass(slots=True)
class PartitionState:
    """One assigned partition: what is recorded, what dead letters are confirmed and stored."""

    recorded: int | None  # next offset to record; None: never consumed, start at the beginning
    confirmed: int | None  # dead letters confirmed by the broker for records before it
    stored: int | None  # the dead-letter watermark in the database


class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Runs on kafka-python's I/O thread while the loop waits in `poll`: it only notes the
    change and pauses new partitions, so that no record of theirs is fetched before the loop
    has positioned them from the database (which may be unavailable: no I/O here)."""

    def __init__(self) -> None:
        self.consumer: Any = None
        self.assigned: set[Partition] = set()
        self.revoked: set[Partition] = set()

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.revoked |= {(tp.topic, tp.partition) for tp in revoked}

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        partitions = list(assigned)
        self.consumer.pause(*partitions)
        self.assigned |= {(tp.topic, tp.partition) for tp in partitions}

    def take(self) -> tuple[set[Partition], set[Partition]]:
        revoked, assigned = self.revoked, self.assigned
        self.revoked, self.assigned = set(), set()
        return revoked, assigned


@dataclass(frozen=True, slots=True)
class Wiring:
    """What the loop is built from (the composition root makes them)."""

    ledger: Ledger
    consumer: Any
    listener: Listener
    sender: DeadLetterSender
    make_reader: Callable[[], RangeReader]
    metrics: Metrics
    stream: TextIO
    # The shards' ledgers when a shard map is configured; None: `ledger` owns every partition.
    cluster: Cluster | None = None
    # With a shard map: what concerns other shards goes through the control topic.
    crossing: Crossing | None = None


class InboundLoop:
    """Consumes the inbound topics into the ledger until told to stop."""

    def __init__(self, wiring: Wiring,
                 batch_records_max: int = limits.BATCH_RECORDS_MAX) -> None:
        self.batch_records_max = batch_records_max
        self.ledger = wiring.ledger
        self.consumer = wiring.consumer
        self.listener = wiring.listener
        self.sender = wiring.sender
        self.make_reader = wiring.make_reader
        self.metrics = wiring.metrics
        self.stream = wiring.stream
        self.metrics_log = MetricsLog(wiring.metrics, wiring.stream)
        self.cluster = wiring.cluster or Cluster.single(wiring.ledger)
        # Each partition's positions live in its shard, with its events.
        self.shards = Shards(self.cluster)
        self.crossing = wiring.crossing
        self.partitions: dict[Partition, PartitionState] = {}
        self.reader: RangeReader | None = None
        # Assigned partitions not positioned from the database yet: their records are dropped.
        self.pending: set[Partition] = set()
        self.committed_hints: dict[Partition, int] = {}

    # The loop and its failure policy.

    def run(self, stopping: threading.Event) -> None:
        """Until `stopping` is set (SIGTERM): the batch in progress finishes first."""
        failures = 0
        while not stopping.is_set():
            try:
                self.step()
                failures = 0
            except Exception as error:
                if not is_transient(error):
                    raise
                failures += 1
                self._failed(error, failures, stopping)
        self.close()

    def _failed(self, error: Exception, failures: int, stopping: threading.Event) -> None:
        # Whatever the batch in flight became, the database says it: position everything again.
        self.pending |= set(self.partitions)
        self.partitions.clear()
        wait_after(error, failures, stopping, self.metrics, self.stream)

    def step(self) -> None:
        """Position what needs it, poll one batch, record it (or note that all is idle)."""
        self.position_pending()
        records = self.poll()
        # Partitions positioned only now were assigned during this poll: drop their records.
        fresh = self.position_pending()
        records = unseen([r for r in records if r.where not in fresh],
                         {p: s.recorded for p, s in self.partitions.items()})
        if records:
            self.process(records)
        else:
            self.idle()
        self.metrics_log.maybe_write()

    # Polling and positions.

    def poll(self) -> list[InboundRecord]:
        """Up to `batch_records_max` records: one wait for the first, brief waits for more."""
        records: list[InboundRecord] = []
        timeout_ms = limits.POLL_TIMEOUT_MS
        for _ in range(limits.BATCH_FILL_POLLS_MAX):
            room = self.batch_records_max - len(records)
            polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=room)
            records += [InboundRecord(r.topic, r.partition, r.offset, r.key, r.value,
                                      tuple(r.headers or ()))
                        for batch in polled.values() for r in batch]
            if not polled or len(records) >= self.batch_records_max:
                break
            timeout_ms = limits.BATCH_FILL_WAIT_MS
        return records

    def position_pending(self) -> set[Partition]:
        """Apply the listener's news, then position the partitions that need it."""
        self.rebalanced()
        if not self.pending:
            return set()
        return self.position(sorted(self.pending))

    def rebalanced(self) -> None:
        revoked, assigned = self.listener.take()
        if revoked or assigned:
            self.metrics.count("rebalances")
            log(self.stream, "rebalance", revoked=sorted(revoked), assigned=sorted(assigned))
        for partition in revoked | assigned:
            self.partitions.pop(partition, None)
        self.pending = (self.pending - revoked) | assigned
        self.metrics.forget_lag(revoked - assigned)

    def position(self, partitions: Sequence[Partition]) -> set[Partition]:
        """Read the stored positions, finish any interrupted dead letters, seek, resume."""
        owned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        self.pending &= owned
        wanted = [partition for partition in partitions if partition in owned]
        for partition, stored in self.shards.read_positions(wanted).items():
            watermark = self.recover(partition, stored)
            self.partitions[partition] = PartitionState(stored.recorded, watermark, watermark)
            where = TopicPartition(*partition)
            if stored.recorded is None:
                self.consumer.seek_to_beginning(where)
            else:
                self.consumer.seek(where, stored.recorded)
            self.consumer.resume(where)
            self.pending.discard(partition)
        log(self.stream, "positioned", partitions={
            f"{topic}:{number}": self.partitions[(topic, number)].recorded
            for topic, number in wanted})
        return set(wanted)

    def recover(self, partition: Partition, stored: Stored) -> int | None:
        """Send the dead letters of the recovery range; the watermark after it."""
        bounds = stored.recovery_range()
        if bounds is None:
            return stored.dead_letters
        if self.reader is None:
            self.reader = self.make_reader()
        ledger = self.ledger_of(partition)
        if self.crossing is not None and partition[0] == self.crossing.sender.topic:
            letters = recover_control(ledger, self.reader.read(partition, *bounds))
        else:
            letters = recover(self.reader, ledger.app.ledger_recorder, partition, bounds)
        self.sender.send(letters)
        self.shards.store_of(partition).confirm_dead_letters({partition: bounds[1]})
        self.metrics.count("recoveries")
        self.metrics.count("dead_letters", len(letters))
        log(self.stream, "recovered", partition=f"{partition[0]}:{partition[1]}",
            start=bounds[0], end=bounds[1], dead_letters=len(letters))
        return bounds[1]

    # Shards: each partition's records, outcomes and positions go to the database owning it.

    def ledger_of(self, partition: Partition) -> Ledger:
        return self.shards.ledger_of(partition)

    # Recording.

    def process(self, records: list[InboundRecord]) -> None:
        started = time.perf_counter()
        outcomes: list[str] = []
        for run in self.shards.runs(records):
            held: set[Partition] = set()
            for unit in self.units(parse(run)):
                entries = [entry for entry in unit.entries if entry.record.where not in held]
                if not entries:
                    continue
                if unit.kind == HOLD:
                    held.add(self.hold(entries[0].record.where))
                    time.sleep(limits.HOLD_WAIT_MS / 1000)
                    continue
                if unit.kind is not None:
                    outcomes += [result.outcome.value for result in self.cross(unit)]
                    continue
                for transaction in transactions(entries):
                    results = self.record(transaction)
                    outcomes += [result.outcome.value for result in results]
                    self.send_dead_letters(transaction, results)
        self.commit_hints()
        self.metrics.batch_recorded(outcomes, time.perf_counter() - started)
        self.update_lag()

    def units(self, entries: list[Entry]) -> Iterator[Unit]:
        """One shard's entries: runs recorded here, and those for other shards on their own."""
        if self.crossing is None or not entries:
            yield Unit(None, entries)
            return
        where = entries[0].record.where
        yield from self.crossing.units(self.ledger_of(where), self.shards.name_of(where),
                                       entries)

    def hold(self, partition: Partition) -> Partition:
        """Leave the partition at its recorded position: positioned again from the database
        at the next step, it is read again from there (its record waits for a merge's
        transfer, milliseconds to seconds)."""
        self.partitions.pop(partition, None)
        self.pending.add(partition)
        self.metrics.count("holds")
        return partition

    def cross(self, unit: Unit) -> list[Result]:
        """An entry for other shards, or a control record: handled, with both of its
        partition's tracking rows moved past it in the same transaction; or, for a control
        record whose outcome may call for a dead letter, the recorded position only, then its
        dead letters sent, then the watermark moved (as `send_dead_letters` does)."""
        assert self.crossing is not None
        record = unit.entries[0].record
        state = self.partitions[record.where]
        assert state.stored == state.recorded, "dead letters are confirmed before a crossing"
        after = record.offset + 1
        recorded = recorded_trackings({record.where: after})
        first = {} if state.stored is not None else {record.where: record.offset}
        positions = Positions(moved=recorded + dead_letter_trackings({record.where: after}),
                              behind=recorded + dead_letter_trackings(first))
        handled = self.crossing.handle(unit, self.ledger_of(record.where), positions)
        state.recorded = state.confirmed = after
        if handled.behind:
            state.stored = state.stored if state.stored is not None else record.offset
            self.sender.send(handled.letters)
            self.store_watermarks()
        else:
            state.stored = after
        self.metrics.count("dead_letters", handled.sent + len(handled.letters))
        return handled.results

    def record(self, transaction: list[Entry]) -> list[Result]:
        """One `Ledger.ingest` call on the shard of the transaction's partitions: one database
        transaction with the positions."""
        recorded = next_offsets(transaction)
        watermarks = self.watermarks_to_store(first_offsets(transaction))
        trackings = recorded_trackings(recorded) + dead_letter_trackings(watermarks)
        where = transaction[0].record.where
        ledger = self.ledger_of(where)
        self.shards.note_persons(where, transaction)
        try:
            results = ledger.ingest(
                [entry.item for entry in transaction],
                fallback_keys=[entry.fallback_key for entry in transaction],
                trackings=trackings, channel="kafka")
        except ConflictingWriters as error:
            if self.positions_moved():
                raise PositionsMoved(f"positions of {sorted(recorded)} moved") from error
            raise
        for partition, offset in recorded.items():
            self.partitions[partition].recorded = offset
        for partition, offset in watermarks.items():
            self.partitions[partition].stored = offset
        return results

    def watermarks_to_store(self, firsts: dict[Partition, int]) -> dict[Partition, int]:
        """The first dead-letter watermark of a partition consumed for the first time: it
        commits with the transaction, so that a crash before the dead letters are confirmed
        leaves a recovery range (from it to the position), never an unbounded one."""
        watermarks: dict[Partition, int] = {}
        for partition, first in firsts.items():
            state = self.partitions[partition]
            if state.stored is None:
                state.confirmed = first
                watermarks[partition] = first
        return watermarks

    def positions_moved(self) -> bool:
        """Whether the database holds positions this loop did not write (another member)."""
        stored = self.shards.read_positions(self.partitions)
        return any((stored[p].recorded, stored[p].dead_letters) != (state.recorded, state.stored)
                   for p, state in self.partitions.items())

    def send_dead_letters(self, transaction: list[Entry], results: list[Result]) -> None:
        """Send, wait for the broker's confirmation, then store the watermarks (see
        `consumers.deadletters` for why in this order)."""
        letters = dead_letters(zip(transaction, results, strict=True))
        self.sender.send(letters)
        for partition, offset in next_offsets(transaction).items():
            self.partitions[partition].confirmed = offset
        self.store_watermarks()
        self.metrics.count("dead_letters", len(letters))

    def store_watermarks(self) -> None:
        """Every confirmed watermark ahead of the stored one, in one transaction."""
        ahead = {partition: state.confirmed for partition, state in self.partitions.items()
                 if state.confirmed is not None
                 and (state.stored is None or state.confirmed > state.stored)}
        self.shards.confirm_dead_letters(ahead)
        for partition, offset in ahead.items():
            self.partitions[partition].stored = offset

    # Between batches.

    def idle(self) -> None:
        """Nothing to consume: store any confirmed watermark, commit hints, refresh the lag."""
        self.store_watermarks()
        self.commit_hints()
        self.update_lag()

    def commit_hints(self) -> None:
        """Kafka's committed offsets, for lag tools only: after the database commit, async."""
        offsets = {
            TopicPartition(*partition): OffsetAndMetadata(state.recorded, "", -1)
            for partition, state in self.partitions.items()
            if state.recorded is not None
            and self.committed_hints.get(partition) != state.recorded
        }
        if not offsets:
            return
        self.consumer.commit_async(offsets=offsets, callback=self._hint_committed)
        self.committed_hints.update({(tp.topic, tp.partition): meta.offset
                                     for tp, meta in offsets.items()})

    def _hint_committed(self, offsets: Any, response: Any) -> None:
        if isinstance(response, Exception):
            self.metrics.count("hint_commit_failures")
            self.committed_hints.clear()  # try again with the next batch

    def update_lag(self) -> None:
        for partition, state in self.partitions.items():
            highwater = self.consumer.highwater(TopicPartition(*partition))
            if highwater is not None:
                self.metrics.set_lag(partition, max(0, highwater - (state.recorded or 0)))

    def close(self) -> None:
        """After the last batch: store what is confirmed, hint, leave, release."""
        try:
            self.idle()
        except Exception as error:
            if not is_transient(error):
                raise
            log(self.stream, "close_incomplete", error=repr(error)[:500])
        self.metrics_log.write()
        self.consumer.close(autocommit=False)
        if self.reader is not None:
            self.reader.close()
        self.sender.close()

