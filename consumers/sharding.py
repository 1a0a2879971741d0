"""Which shard each partition's records, positions and person homes go to (the loop's view of
`ledger.cluster`): one `PositionStore` and one `PersonHomes` per shard."""

from __future__ import annotations

from collections.abc import Iterable

from consumers.batch import Entry, InboundRecord, Partition
from consumers.positions import PositionStore, Stored
from ledger.application import Ledger
from ledger.cluster import Cluster
from ledger.homes import PersonHomes
from ledger.identity import is_valid
from schemas import Message


class Shards:
    """The cluster's ledgers, positions and homes, by partition."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.stores = {shard.name: PositionStore(ledger) for shard, ledger in cluster}
        self.homes = {shard.name: PersonHomes(ledger) for shard, ledger in cluster}

    def name_of(self, partition: Partition) -> str:
        return self.cluster.shard_of_partition(partition[1]).name

    def ledger_of(self, partition: Partition) -> Ledger:
        return self.cluster.of_partition(partition[1])

    def store_of(self, partition: Partition) -> PositionStore:
        return self.stores[self.name_of(partition)]

    def by_shard(self, partitions: Iterable[Partition]) -> dict[str, list[Partition]]:
        grouped: dict[str, list[Partition]] = {}
        for partition in partitions:
            grouped.setdefault(self.name_of(partition), []).append(partition)
        return grouped

    def read_positions(self, partitions: Iterable[Partition]) -> dict[Partition, Stored]:
        stored: dict[Partition, Stored] = {}
        for name, owned in self.by_shard(partitions).items():
            stored.update(self.stores[name].read(owned))
        return stored

    def confirm_dead_letters(self, watermarks: dict[Partition, int]) -> None:
        for name, partitions in self.by_shard(watermarks).items():
            self.stores[name].confirm_dead_letters({p: watermarks[p] for p in partitions})

    def runs(self, records: list[InboundRecord]) -> list[list[InboundRecord]]:
        """The records of each shard, in their order (partitions are independent)."""
        runs: dict[str, list[InboundRecord]] = {}
        for record in records:
            runs.setdefault(self.name_of(record.where), []).append(record)
        return list(runs.values())

    def note_persons(self, partition: Partition, entries: Iterable[Entry]) -> None:
        """The homes of these entries' persons, before their batch (see `ledger.homes`)."""
        self.homes[self.name_of(partition)].note(persons(entries))


def persons(entries: Iterable[Entry]) -> set[str]:
    """The valid person identifiers of these entries' messages."""
    return {entry.item.person for entry in entries
            if isinstance(entry.item, Message) and entry.item.person is not None
            and is_valid(entry.item.person)}
