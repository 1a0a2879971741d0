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
# careers load in O(1) reads; a load replays fewer than N events). Chosen from
# `python -m tests.bench.snapshots`: decoding and applying an event costs about as much as
# taking and encoding a snapshot, and a fifth of loading one; at France's scale most messages
# load their person (the cache holds few of 40 million), so the events replayed since the
# snapshot (k/2 on average) dominate: per event, k = 5 costs 0.8 ms, 10: 1.0, 20: 1.6, 50: 3.1.
# Every snapshot is kept, and a long career's is ~25 times an event's size: snapshots then
# weigh 5.3, 2.7, 1.3 and 0.5 times the events. 20 halves the load of 50 at about the events'
# own size; pruning superseded snapshots would allow 5. Measured again with more persons than
# the cache (10 000 persons, cache 2 100; deploy/scale.md, "Past the account cache"): 5
# replays a fifth of the events of 20 but writes twice the snapshots, at the same rate.
SNAPSHOT_INTERVAL_EVENTS = 20
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
