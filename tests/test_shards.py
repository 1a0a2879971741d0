"""The shard map (partitions -> databases, checked once) and Kafka's key -> partition function."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from ledger.config import ConfigurationError
from ledger.identity import with_key
from ledger.partitioner import murmur2, partition_of
from ledger.shards import ShardMap, load, parse_map

# Org.apache.kafka.common.utils.UtilsTest#testMurmur2: the Java client's values (signed int).
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}
URLS = {"CPA_SHARD_S0_URL": "postgresql://h/a", "CPA_SHARD_S1_URL": "postgresql://h/b"}
RANDOM_KEYS = 500
KEY_LENGTH_MAX = 40


def _signed(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


@pytest.mark.parametrize(("key", "expected"), JAVA_MURMUR2.items())
def test_murmur2_gives_the_java_clients_values(key: bytes, expected: int) -> None:
    assert _signed(murmur2(key)) == expected


def test_murmur2_agrees_with_kafka_python_on_keys_of_every_length() -> None:
    rng = random.Random(12)
    for _ in range(RANDOM_KEYS):
        key = rng.randbytes(rng.randrange(KEY_LENGTH_MAX))
        assert murmur2(key) == kafka_python_murmur2(key), key


def test_partition_is_the_positive_hash_modulo_the_partitions() -> None:
    # -973932308 & 0x7fffffff = 1173551340
    assert partition_of(b"21", 8) == 1_173_551_340 % 8
    with pytest.raises(ValueError, match="at least one partition"):
        partition_of(b"21", 0)


def _document(**shards: Any) -> dict[str, Any]:
    return {"partitions": 8, "shards": shards or {
        "s0": {"database_url_env": "CPA_SHARD_S0_URL", "partitions": [0, 1, 2, 3]},
        "s1": {"database_url_env": "CPA_SHARD_S1_URL", "partitions": [4, 5, 6, 7]}}}


def test_a_valid_map_routes_partitions_and_persons() -> None:
    shard_map = parse_map(_document(), URLS, "test")
    assert [s.name for s in shard_map.shards] == ["s0", "s1"]
    assert shard_map.shard_of_partition(5).database_url == "postgresql://h/b"
    person = with_key("1840375123456")
    partition = partition_of(person.encode(), 8)
    assert shard_map.shard_of(person).name == ("s0" if partition < 4 else "s1")


def test_without_a_map_the_single_store_owns_every_partition() -> None:
    shard_map = load("postgresql://h/one", {})
    assert shard_map.is_single
    assert shard_map.shard_of_partition(123).database_url == "postgresql://h/one"
    assert shard_map == ShardMap.single("postgresql://h/one")


def test_the_map_file_is_read_from_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "shards.toml"
    path.write_text('partitions = 2\n[shards.a]\ndatabase_url = "postgresql://h/a"\n'
                    'partitions = [0, 1]\n')
    shard_map = load("sqlite:///x", {"CPA_SHARD_MAP": str(path)})
    assert shard_map.partitions == 2
    assert shard_map.shards[0].partitions == (0, 1)


@pytest.mark.parametrize(("shards", "message"), [
    ({"s0": {"database_url_env": "CPA_SHARD_S0_URL", "partitions": [0, 1, 2, 3]},
      "s1": {"database_url_env": "CPA_SHARD_S1_URL", "partitions": [3, 4, 5, 6, 7]}},
     "partition 3 is owned by shards s0 and s1"),
    ({"s0": {"database_url_env": "CPA_SHARD_S0_URL", "partitions": [0, 1, 2, 3]},
      "s1": {"database_url_env": "CPA_SHARD_S1_URL", "partitions": [4, 5, 6]}},
     r"partitions \[7\] are owned by no shard"),
    ({"s0": {"database_url_env": "CPA_SHARD_S0_URL", "partitions": [0, 1, 2, 3, 8]},
      "s1": {"database_url_env": "CPA_SHARD_S1_URL", "partitions": [4, 5, 6, 7]}},
     "partition numbers from 0 to 7"),
    ({"s0": {"database_url_env": "CPA_SHARD_S9_URL", "partitions": list(range(8))}},
     "'CPA_SHARD_S9_URL' is unset"),
    ({"s0": {"database_url": "postgresql://h/a", "database_url_env": "CPA_SHARD_S0_URL",
             "partitions": list(range(8))}}, "exactly one of"),
    ({"s0": {"database_url": "sqlite:///x", "partitions": list(range(8))}}, "postgresql://"),
    ({"s0": {"database_url_env": "CPA_SHARD_S0_URL", "partitions": [0, 1, 2, 3]},
      "s1": {"database_url_env": "CPA_SHARD_S0_URL", "partitions": [4, 5, 6, 7]}},
     "two shards name the same database"),
    ({"s0": {"database_url_env": "CPA_SHARD_S0_URL", "partitions": list(range(8)),
             "weight": 2}}, "unknown keys"),
])
def test_a_wrong_map_is_refused_with_its_reason(shards: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_map(_document(**shards), URLS, "test")


def test_a_missing_or_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load("", {"CPA_SHARD_MAP": str(tmp_path / "absent.toml")})
    bad = tmp_path / "bad.toml"
    bad.write_text("partitions = [")
    with pytest.raises(ConfigurationError, match="is not TOML"):
        load("", {"CPA_SHARD_MAP": str(bad)})


def test_partition_counts_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="'partitions' must be"):
        parse_map({"partitions": 0, "shards": {}}, URLS, "test")
    shard_map = parse_map(_document(), URLS, "test")
    with pytest.raises(ConfigurationError, match="outside the shard map"):
        shard_map.shard_of_partition(8)
