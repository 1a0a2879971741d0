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
# Snapshot every N events of a person (long careers load in O(1) reads).
SNAPSHOT_INTERVAL_EVENTS = 50
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
