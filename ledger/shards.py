"""The shard map: which PostgreSQL database owns which partitions of the inbound topics.

A shard is one database (event store, outcomes, positions, read models) owning a fixed set of
partition numbers, the same numbers on every inbound topic (issue 12). `CPA_SHARD_MAP` names a
TOML file; unset, the single store at `CPA_DATABASE_URL` owns every partition:

    partitions = 8                          # partitions of every inbound topic
    [shards.s0]
    database_url_env = "CPA_SHARD_S0_URL"   # or database_url = "postgresql://..."
    partitions = [0, 1, 2, 3]
    [shards.s1]
    database_url_env = "CPA_SHARD_S1_URL"
    partitions = [4, 5, 6, 7]

The file is read and checked once at start-up: every partition owned by exactly one shard, each
shard with one database URL; any mistake stops the process with a message naming it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.config import ConfigurationError
from ledger.partitioner import identifier_partition

MAP_VARIABLE = "CPA_SHARD_MAP"
DEFAULT_SHARD = "default"
PARTITIONS_MAX = 10_000  # Kafka allows more; a map this large is a typo
SHARDS_MAX = 1_000


@dataclass(frozen=True, slots=True)
class Shard:
    name: str
    database_url: str
    partitions: tuple[int, ...]  # empty: every partition (the single store)


@dataclass(frozen=True, slots=True)
class ShardMap:
    """Partitions -> shard, checked. `partitions` is None for the single store (it owns every
    partition of topics of any size)."""

    partitions: int | None
    shards: tuple[Shard, ...]

    @classmethod
    def single(cls, database_url: str) -> ShardMap:
        return cls(None, (Shard(DEFAULT_SHARD, database_url, ()),))

    @property
    def is_single(self) -> bool:
        return self.partitions is None

    def shard_of_partition(self, partition: int) -> Shard:
        if self.partitions is None:
            return self.shards[0]
        if not 0 <= partition < self.partitions:
            raise ConfigurationError(
                f"partition {partition} is outside the shard map's {self.partitions} partitions")
        return self._owners()[partition]

    def partition_of(self, identifier: str) -> int | None:
        """The partition of a person's messages (None for the single store: it does not
        matter)."""
        if self.partitions is None:
            return None
        return identifier_partition(identifier, self.partitions)

    def shard_of(self, identifier: str) -> Shard:
        """The shard holding a person: Kafka's murmur2 of the identifier, then the map."""
        partition = self.partition_of(identifier)
        return self.shards[0] if partition is None else self.shard_of_partition(partition)

    def named(self, name: str) -> Shard:
        for shard in self.shards:
            if shard.name == name:
                return shard
        raise ConfigurationError(f"the shard map has no shard {name!r}")

    def _owners(self) -> dict[int, Shard]:
        return {partition: shard for shard in self.shards for partition in shard.partitions}


def load(settings_database_url: str, environ: Mapping[str, str] | None = None) -> ShardMap:
    """The map named by CPA_SHARD_MAP, or the single store at CPA_DATABASE_URL."""
    values = os.environ if environ is None else environ
    path = values.get(MAP_VARIABLE)
    if not path:
        return ShardMap.single(settings_database_url)
    return read_map(Path(path), values)


def read_map(path: Path, environ: Mapping[str, str]) -> ShardMap:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigurationError(f"{MAP_VARIABLE}: cannot read {path}: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{MAP_VARIABLE}: {path} is not TOML: {error}") from error
    return parse_map(document, environ, str(path))


def parse_map(document: Mapping[str, Any], environ: Mapping[str, str], where: str) -> ShardMap:
    """A checked map from the TOML document (`where` names it in errors)."""
    unknown = set(document) - {"partitions", "shards"}
    if unknown:
        raise _error(where, f"unknown keys {sorted(unknown)}")
    partitions = document.get("partitions")
    if not isinstance(partitions, int) or isinstance(partitions, bool) \
            or not 1 <= partitions <= PARTITIONS_MAX:
        raise _error(where, f"'partitions' must be an integer from 1 to {PARTITIONS_MAX}")
    tables = document.get("shards")
    if not isinstance(tables, dict) or not tables or len(tables) > SHARDS_MAX:
        raise _error(where, f"'shards' must be a table of 1 to {SHARDS_MAX} shards")
    shards = tuple(_shard(name, table, partitions, environ, where)
                   for name, table in tables.items())
    _check_coverage(shards, partitions, where)
    return ShardMap(partitions, shards)


def _shard(name: str, table: Any, partitions: int, environ: Mapping[str, str],
           where: str) -> Shard:
    if not isinstance(table, dict):
        raise _error(where, f"shards.{name} must be a table")
    unknown = set(table) - {"database_url", "database_url_env", "partitions"}
    if unknown:
        raise _error(where, f"shards.{name} has unknown keys {sorted(unknown)}")
    owned = table.get("partitions")
    if not isinstance(owned, list) or not owned or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n < partitions
            for n in owned):
        raise _error(where, f"shards.{name}.partitions must list partition numbers from 0 to"
                            f" {partitions - 1}")
    if len(set(owned)) != len(owned):
        raise _error(where, f"shards.{name}.partitions names a partition twice")
    return Shard(name, _database_url(name, table, environ, where), tuple(sorted(owned)))


def _database_url(name: str, table: Mapping[str, Any], environ: Mapping[str, str],
                  where: str) -> str:
    direct, variable = table.get("database_url"), table.get("database_url_env")
    if (direct is None) == (variable is None):
        raise _error(where, f"shards.{name} needs exactly one of database_url and"
                            " database_url_env")
    if variable is not None:
        if not isinstance(variable, str) or not environ.get(variable):
            raise _error(where, f"shards.{name}: the variable {variable!r} is unset")
        direct = environ[variable]
    if not isinstance(direct, str) or not direct.startswith(("postgresql://", "postgres://")):
        raise _error(where, f"shards.{name}: a shard's database is a postgresql:// URL")
    return direct


def _check_coverage(shards: tuple[Shard, ...], partitions: int, where: str) -> None:
    owners: dict[int, str] = {}
    for shard in shards:
        for partition in shard.partitions:
            if partition in owners:
                raise _error(where, f"partition {partition} is owned by shards "
                                    f"{owners[partition]} and {shard.name}")
            owners[partition] = shard.name
    missing = sorted(set(range(partitions)) - set(owners))
    if missing:
        raise _error(where, f"partitions {missing} are owned by no shard")
    urls = [shard.database_url for shard in shards]
    if len(set(urls)) != len(urls):
        raise _error(where, "two shards name the same database")


def _error(where: str, detail: str) -> ConfigurationError:
    return ConfigurationError(f"{MAP_VARIABLE} ({where}): {detail}")
