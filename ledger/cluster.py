"""One `Ledger` per shard of the map, opened together: what a process holding partitions of
several shards (a consumer) or answering for every person (serve, verify) works with."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

from ledger.application import Ledger
from ledger.config import Settings
from ledger.shards import Shard, ShardMap
from ledger.transfers import moved_partitions


class Cluster:
    """The shards' ledgers by name; `of_partition` and `of_person` route to them."""

    def __init__(self, shard_map: ShardMap, ledgers: Mapping[str, Ledger]) -> None:
        assert set(ledgers) == {shard.name for shard in shard_map.shards}, "one ledger a shard"
        self.map = shard_map
        self.ledgers = dict(ledgers)

    @classmethod
    def open(cls, settings: Settings, shard_map: ShardMap) -> Cluster:
        """A ledger per shard, each with the settings but its own database URL."""
        ledgers: dict[str, Ledger] = {}
        try:
            for shard in shard_map.shards:
                ledgers[shard.name] = Ledger(shard_settings(settings, shard))
        except BaseException:
            for ledger in ledgers.values():
                ledger.close()
            raise
        return cls(shard_map, ledgers)

    @classmethod
    def single(cls, ledger: Ledger) -> Cluster:
        """The single store as a cluster of one shard (no map)."""
        shard_map = ShardMap.single(ledger.settings.database_url)
        return cls(shard_map, {shard_map.shards[0].name: ledger})

    def close(self) -> None:
        for ledger in self.ledgers.values():
            ledger.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[Shard, Ledger]]:
        return ((shard, self.ledgers[shard.name]) for shard in self.map.shards)

    def shard_of_partition(self, partition: int) -> Shard:
        return self.map.shard_of_partition(partition)

    def of_partition(self, partition: int) -> Ledger:
        return self.ledgers[self.map.shard_of_partition(partition).name]

    def of_person(self, identifier: str) -> Ledger:
        """The ledger of the person's partition (where their messages are decided)."""
        return self.ledgers[self.map.shard_of(identifier).name]

    def home_of(self, identifier: str) -> Shard:
        """The shard that answers for a person: their partition's, or, for an identifier
        merged into a person of another shard, the survivor's (`ledger.transfers`)."""
        shard = self.map.shard_of(identifier)
        if self.map.is_single:
            return shard
        ledger = self.ledgers[shard.name]
        moved = moved_partitions(ledger, [ledger.person_key(identifier)])
        return self.map.shard_of_partition(next(iter(moved.values()))) if moved else shard

    @property
    def first(self) -> Ledger:
        return self.ledgers[self.map.shards[0].name]


def shard_settings(settings: Settings, shard: Shard) -> Settings:
    return dataclasses.replace(settings, database_url=shard.database_url)
