"""The garbage collector's thresholds for the ledger's long-running processes.

A process that writes or projects keeps thousands of decoded person states in memory (the
ledger's account cache, the projector's tracked states), and once a store holds more persons
than those caches, every batch replaces a few thousand of them by freshly loaded ones: millions
of container objects a batch that live long enough to reach the oldest generation. With
CPython's default thresholds (700, 10, 10) a full collection, which walks every tracked object
of the process, then ran every two or three batches: measured on 30 000 persons with a cache of
10 000 (the scale benchmark's ingestion stage with `limits.PERSON_CACHE_SIZE_MAX` lowered, the
collector timed by `gc.callbacks`; deploy/scale.md, "Past the account cache"), 40 % of the
ingestion time of the late years went to the collector.

The ledger's states hold no reference cycles (plain dicts, lists and strings): they are freed by
reference counting as soon as a cache lets them go, so collecting rarely keeps no dead state. The
young generation is collected every `YOUNG_ALLOCATIONS` allocations (cheap: it only walks the
new objects), the middle one every `MIDDLE_COLLECTIONS` of those, and a full collection is
considered only after `OLD_COLLECTIONS` middle ones (CPython also waits until a quarter of the
old generation is new).
"""

from __future__ import annotations

import gc

YOUNG_ALLOCATIONS = 100_000
MIDDLE_COLLECTIONS = 50
OLD_COLLECTIONS = 100


def tune() -> None:
    """Set this process's collector thresholds (once, at the start of a command)."""
    gc.set_threshold(YOUNG_ALLOCATIONS, MIDDLE_COLLECTIONS, OLD_COLLECTIONS)
