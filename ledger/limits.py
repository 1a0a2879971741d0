"""Every bound of the ledger, with its unit. Change them here, nowhere else."""

from __future__ import annotations

# Ingestion: messages decided and recorded in one transaction.
INGEST_BATCH_MESSAGES_MAX = 2_000
# Year closing: persons decided and recorded per transaction.
YEAR_CLOSE_PERSONS_PER_BATCH = 1_000
# Optimistic-concurrency retries of one batch before giving up loudly.
BATCH_CONFLICT_RETRIES_MAX = 5
# Merge chains followed when resolving an absorbed identifier.
MERGE_CHAIN_LENGTH_MAX = 8
# Snapshot a person once N events or more were recorded since their latest snapshot (long
# careers load in O(1) reads; a load replays fewer than N events). At France's scale most
# messages load their person (the cache holds few of 40 million), and replaying the events
# since the snapshot was the largest part of a load once snapshots left the settled years
# encoded (`ledger.snapshots`), were inserted in binary and compressed with lz4: on a store of
# 30 000 persons with a cache of 10 000 (deploy/scale.md, "Past the account cache"), 5 ingests
# the late years about 12 % faster than 20 and closes a year about 20 % faster. Every snapshot
# is kept: at 5, the snapshots' table was 0.46 times the events' (1.3 GB against 2.8 GB at
# 100 000 persons, lz4; README, "Scale").
SNAPSHOT_INTERVAL_EVENTS = 5
# Persons kept decoded in memory by the application between batches.
PERSON_CACHE_SIZE_MAX = 20_000
# Identifiers whose person key a ledger remembers (an HMAC and a validation each).
PERSON_KEYS_CACHED_MAX = 100_000
# Accounts loaded by one prefetch statement (a batch's accounts missing from the cache).
PREFETCH_ACCOUNTS_MAX = 2_000
# Statement lines returned per page.
STATEMENT_PAGE_LINES_MAX = 1_000
# Notification-log page read by in-process projections.
NOTIFICATION_PAGE_EVENTS_MAX = 1_000
