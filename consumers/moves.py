"""Adding a shard: move partitions' persons into another database, then switch the map.

`cpa-ledger shards move --to-map NEW.toml` compares the current map (`CPA_SHARD_MAP`, or the
single store) with the new one; for every partition whose owner changes it copies, from the old
owner to the new, with the consumers stopped:
- the persons of those partitions (`ledger.homes`): their stored events, unchanged (same ids,
  versions, hash-chain input), their year index rows, their outcomes and their home rows;
- the calendar of closed years (when the target has none) and the year closes' outcomes;
- the consumed positions of those partitions on every topic (inbound and control), and the
  control copies' origin rows, so that the new owner resumes exactly where the old one stopped;
- a merge split by the move (absorbed identifier and survivor now on two shards) gets what a
  cross-shard merge records (`ledger.transfers`): the "moved" mark on the absorbed identifier's
  shard, an account pointing at the survivor on the survivor's.
Every step is idempotent (what the target already has is skipped), so an interrupted move is
run again. The old owner keeps its copies (its audit chain is append-only); after the switch
nothing reads or writes them. Then: point CPA_SHARD_MAP at the new file, start the consumers,
run `cpa-ledger project` on the new shard.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from eventsourcing.persistence import StoredEvent, Tracking

from consumers.positions import dead_letters_name, process_recorder, recorded_name
from ledger.application import YEAR_CLOSE_TYPE, Ledger
from ledger.cluster import Cluster
from ledger.domain import CALENDAR_ID, PersonAccount
from ledger.homes import PersonHomes
from ledger.identity import aggregate_id
from ledger.outcomes import MessageOutcome
from ledger.partitioner import POSITIVE_MASK
from ledger.rules.cpf import year_of_fact
from ledger.shards import Shard, ShardMap
from ledger.storage import BatchRecords, Receipt
from ledger.transfers import MOVED_SOURCE, moved_key

PERSONS_PER_PAGE = 500
RECEIPTS_PER_PAGE = 5_000
MERGE_TYPE = "person.merged"


@dataclass(slots=True)
class MoveReport:
    """What one move copied, per (from, to) pair of shards."""

    partitions: dict[str, list[int]] = field(default_factory=dict)
    persons: int = 0
    events: int = 0
    outcomes: int = 0
    positions: int = 0
    relinked: int = 0


def planned_moves(current: ShardMap, target: ShardMap) -> dict[tuple[str, str], list[int]]:
    """(old shard, new shard) -> the partitions moving between them. Shards are the same shard
    when they name the same database."""
    assert target.partitions is not None, "the new map names its partitions"
    moves: dict[tuple[str, str], list[int]] = {}
    for partition in range(target.partitions):
        old = current.shard_of_partition(partition)
        new = target.shard_of_partition(partition)
        if old.database_url != new.database_url:
            moves.setdefault((old.name, new.name), []).append(partition)
    return moves


def move(current: Cluster, target: Cluster, topics: Sequence[str]) -> MoveReport:
    """Copy every moving partition's persons and positions to its new owner."""
    report = MoveReport()
    for (old, new), partitions in planned_moves(current.map, target.map).items():
        report.partitions[f"{old}->{new}"] = partitions
        source = current.ledgers[old]
        destination = target.ledgers[new]
        _copy_calendar(source, destination)
        moved = _copy_persons(source, destination, partitions, target, report)
        report.outcomes += _copy_outcomes(source, destination, moved)
        report.positions += _copy_positions(source, destination, topics, partitions,
                                            target.map)
    return report


# Persons.


def _copy_persons(source: Ledger, destination: Ledger, partitions: list[int], target: Cluster,
                  report: MoveReport) -> set[str]:
    homes, count = PersonHomes(source), target.map.partitions
    assert count is not None
    moved: set[str] = set()
    after = ""
    while True:
        page = homes.in_partitions(partitions, count, after, PERSONS_PER_PAGE)
        if not page:
            return moved
        report.events += _copy_accounts(source, destination, [key for key, _ in page])
        PersonHomes(destination).note_keys(page)
        report.relinked += _relink_merges(source, target, [key for key, _ in page])
        moved.update(key for key, _ in page)
        report.persons += len(page)
        after = page[-1][0]


def _copy_accounts(source: Ledger, destination: Ledger, keys: Iterable[str]) -> int:
    """The accounts' stored events and year rows, for those the destination lacks."""
    events: list[StoredEvent] = []
    years: set[tuple[int, str]] = set()
    for key in keys:
        stored = _events(source, aggregate_id(key))
        if not stored or _events(destination, aggregate_id(key), limit=1):
            continue
        events += stored
        years.update(_years(source, key))
    if events:
        destination.app.recorder.insert_events(events,
                                               records=BatchRecords(person_years=sorted(years)))
    return len(events)


def _events(ledger: Ledger, originator_id: uuid.UUID, limit: int | None = None
            ) -> list[StoredEvent]:
    return list(ledger.app.recorder.select_events(originator_id, limit=limit))


def _years(ledger: Ledger, key: str) -> set[tuple[int, str]]:
    account = _account(ledger, key)
    if account is None:
        return set()
    return {(year, key) for fact in account.state.facts.values()
            if (year := year_of_fact(fact)) is not None}


def _account(ledger: Ledger, key: str) -> PersonAccount | None:
    try:
        account: object = ledger.app.repository.get(aggregate_id(key))
    except Exception:  # never recorded (a home row may precede its person)
        return None
    return account if isinstance(account, PersonAccount) else None


def _relink_merges(source: Ledger, target: Cluster, keys: Iterable[str]) -> int:
    """For each merge of these persons now split across shards: the "moved" mark where the
    absorbed identifier lives, and its account (pointing at the survivor) where the survivor
    lives."""
    relinked = 0
    for key in keys:
        account = _account(source, key)
        if account is None:
            continue
        pairs = [(key, account.state.merged_into)] if account.state.merged_into else []
        pairs += [(absorbed, key) for absorbed in account.state.absorbed]
        relinked += sum(_relink(source, target, absorbed, survivor)
                        for absorbed, survivor in pairs if survivor is not None)
    return relinked


def _relink(source: Ledger, target: Cluster, absorbed: str, survivor: str) -> int:
    homes = PersonHomes(source)
    absorbed_hash, survivor_hash = homes.hash_of(absorbed), homes.hash_of(survivor)
    count = target.map.partitions
    if absorbed_hash is None or survivor_hash is None or count is None:
        return 0
    survivor_partition = (survivor_hash & POSITIVE_MASK) % count
    absorbed_shard = target.map.shard_of_partition((absorbed_hash & POSITIVE_MASK) % count)
    survivor_shard = target.map.shard_of_partition(survivor_partition)
    if absorbed_shard.name == survivor_shard.name:
        return 0
    _mark_moved(target.ledgers[absorbed_shard.name], absorbed, survivor_partition)
    survivor_ledger = target.ledgers[survivor_shard.name]
    _copy_accounts(source, survivor_ledger, [absorbed])
    PersonHomes(survivor_ledger).note_keys([(absorbed, survivor_hash)])
    return 1


def _mark_moved(ledger: Ledger, absorbed: str, survivor_partition: int) -> None:
    key = moved_key(absorbed)
    if ledger.app.ledger_recorder.select_receipts([key]):
        return
    receipt = Receipt(source=MOVED_SOURCE, message_id=absorbed, digest=None,
                      outcome=MessageOutcome.ACCEPTED, reason=None,
                      detail=str(survivor_partition), person_key=absorbed,
                      message_type=MERGE_TYPE, recorded_at=ledger.now(), channel="move")
    ledger.app.recorder.insert_events([], records=BatchRecords(receipts=[receipt]))


# The calendar, outcomes and positions.


def _copy_calendar(source: Ledger, destination: Ledger) -> None:
    stored = _events(source, CALENDAR_ID)
    if stored and not _events(destination, CALENDAR_ID, limit=1):
        destination.app.recorder.insert_events(stored)


def _copy_outcomes(source: Ledger, destination: Ledger, moved: set[str]) -> int:
    """The outcomes of the moved persons' messages and of the year closes (each shard records
    its own), those the destination lacks."""
    copied, after = 0, ("", "")
    while True:
        page = source.app.ledger_recorder.select_receipts_page(after, RECEIPTS_PER_PAGE)
        if not page:
            return copied
        wanted = [receipt for receipt in page if receipt.person_key in moved
                  or (receipt.person_key is None and receipt.message_type == YEAR_CLOSE_TYPE)]
        present = destination.app.ledger_recorder.select_receipts(
            (receipt.source, receipt.message_id) for receipt in wanted)
        fresh = [r for r in wanted if (r.source, r.message_id) not in present]
        if fresh:
            destination.app.recorder.insert_events([], records=BatchRecords(receipts=fresh))
        copied += len(fresh)
        after = (page[-1].source, page[-1].message_id)


def _copy_positions(source: Ledger, destination: Ledger, topics: Sequence[str],
                    partitions: list[int], target: ShardMap) -> int:
    """The moving partitions' positions on every topic, and every origin row, where the
    destination's are behind."""
    assert target.partitions is not None
    names = [name(( topic, partition)) for topic in topics for partition in partitions
             for name in (recorded_name, dead_letters_name)]
    names += [f"origin:{topic}:{partition}" for topic in topics
              for partition in range(target.partitions)]
    ahead = [Tracking(name, value) for name in names
             if (value := _tracking(source, name)) is not None
             and value > (_tracking(destination, name) or -1)]
    if ahead:
        destination.app.save(records=BatchRecords(trackings=ahead))
    return len(ahead)


def _tracking(ledger: Ledger, name: str) -> int | None:
    return process_recorder(ledger).max_tracking_id(name)


def describe(shards: Sequence[Shard]) -> list[str]:
    return [f"{shard.name}: partitions {list(shard.partitions)}" for shard in shards]
