"""Kafka's key -> partition function, as the Java client's default partitioner computes it:
`toPositive(murmur2(keyBytes)) % numPartitions` (org.apache.kafka.common.utils.Utils).

The ledger uses it to find the shard of a person without asking Kafka: the record key of every
inbound message is the person identifier (contract §5), so the identifier's partition is where
its messages were written, and the shard map says which database owns that partition.
"""

from __future__ import annotations

SEED = 0x9747B28C
MULTIPLIER = 0x5BD1E995
SHIFT = 24
WORD_MASK = 0xFFFF_FFFF
POSITIVE_MASK = 0x7FFF_FFFF
WORD_BYTES = 4


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 of `data`, as an unsigned integer (Java's int, bits unchanged)."""
    length = len(data)
    h = (SEED ^ length) & WORD_MASK
    whole = length - length % WORD_BYTES
    for start in range(0, whole, WORD_BYTES):
        k = int.from_bytes(data[start:start + WORD_BYTES], "little")
        k = (k * MULTIPLIER) & WORD_MASK
        k ^= k >> SHIFT
        k = (k * MULTIPLIER) & WORD_MASK
        h = ((h * MULTIPLIER) & WORD_MASK) ^ k
    h = _tail(h, data[whole:])
    h ^= h >> 13
    h = (h * MULTIPLIER) & WORD_MASK
    h ^= h >> 15
    return h


def _tail(h: int, rest: bytes) -> int:
    """The Java switch's fall-through over the last 1 to 3 bytes."""
    if not rest:
        return h
    for index in range(len(rest) - 1, -1, -1):
        h ^= rest[index] << (8 * index)
    return (h * MULTIPLIER) & WORD_MASK


def partition_of(key: bytes, partitions: int) -> int:
    """The partition a keyed record goes to on a topic of `partitions` partitions."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return (murmur2(key) & POSITIVE_MASK) % partitions


def identifier_partition(identifier: str, partitions: int) -> int:
    """The partition of a person's messages: their key is the identifier as sent (UTF-8)."""
    return partition_of(identifier.encode("utf-8"), partitions)
