"""Every bound of the Kafka shell, with its unit. Change them here, nowhere else.

The client timeouts are chosen together: a batch (poll, decide, record, dead letters) must end
well inside `MAX_POLL_INTERVAL_MS`, including every retry of an unavailable database, or the
group would hand the partitions to another member while this one still writes.
"""

from __future__ import annotations

from ledger import limits as ledger_limits

# --- One batch --------------------------------------------------------------------------------
# Records decided and recorded in one database transaction: the ledger's own batch size.
BATCH_RECORDS_MAX = ledger_limits.INGEST_BATCH_MESSAGES_MAX
# How long a poll waits for the first records; then how long it keeps filling the batch.
POLL_TIMEOUT_MS = 500
BATCH_FILL_WAIT_MS = 50
# Polls spent filling one batch (a poll returns the records of at most one fetch response).
BATCH_FILL_POLLS_MAX = 8

# --- Fetching ---------------------------------------------------------------------------------
# Whole fetch response and per partition: bounded memory whatever the backlog.
FETCH_MAX_BYTES = 16 * 1024 * 1024
PARTITION_FETCH_MAX_BYTES = 1024 * 1024
FETCH_MIN_BYTES = 1
FETCH_MAX_WAIT_MS = 200

# --- Group membership -------------------------------------------------------------------------
# Heartbeats run on kafka-python's I/O thread; a SIGKILLed member is noticed after the session.
SESSION_TIMEOUT_MS = 10_000
# CPA_KAFKA_SESSION_TIMEOUT_MS may lengthen it for static members (a restarted pod keeps its
# partitions if it rejoins within the session): from the brokers' default minimum
# (group.min.session.timeout.ms) to five minutes, the longest a dead member's partitions wait.
SESSION_TIMEOUT_MS_MIN = 6_000
SESSION_TIMEOUT_MS_MAX = 300_000
HEARTBEAT_INTERVAL_MS = 2_000
# The longest a batch may take, retries of an unavailable store included (see RECOVERY_*).
MAX_POLL_INTERVAL_MS = 600_000

# --- Connections ------------------------------------------------------------------------------
REQUEST_TIMEOUT_MS = 30_000
RETRY_BACKOFF_MS = 100
RECONNECT_BACKOFF_MS = 50
RECONNECT_BACKOFF_MAX_MS = 5_000
CONNECTIONS_MAX_IDLE_MS = 540_000
METADATA_MAX_AGE_MS = 60_000
BOOTSTRAP_TIMEOUT_MS = 30_000

# --- Producing (dead letters, outbound stream) ------------------------------------------------
# The broker refuses what its topic does not take; an inbound record fits by construction
# when both topics keep the broker's default max.message.bytes (1 MiB); the headers add little.
PRODUCE_REQUEST_MAX_BYTES = 2 * 1024 * 1024
PRODUCE_BATCH_MAX_BYTES = 256 * 1024
PRODUCE_LINGER_MS = 5
# A send is given up (and retried by our loop) after this; within it the producer retries.
DELIVERY_TIMEOUT_MS = 60_000
PRODUCE_RETRIES_MAX = 2_147_483_647  # bounded by DELIVERY_TIMEOUT_MS, as in the Java client
PRODUCE_BLOCK_MAX_MS = 60_000
IN_FLIGHT_REQUESTS_MAX = 5  # the most the idempotent producer keeps ordered
FLUSH_TIMEOUT_S = 90.0
# Header `detail` is bounded whatever the ledger wrote.
DETAIL_HEADER_MAX_BYTES = 1_000

# --- Failures ---------------------------------------------------------------------------------
# Consecutive failed attempts (store or broker unavailable) before the process gives up and
# exits non-zero; nothing is half-recorded, so a supervisor restart resumes exactly.
RECOVERY_ATTEMPTS_MAX = 30
RECOVERY_BACKOFF_FIRST_S = 0.5
RECOVERY_BACKOFF_MAX_S = 10.0
# Reading back the records of a recovery range (dead letters not confirmed before a crash).
RECOVERY_READ_TIMEOUT_S = 60.0
RECOVERY_POLL_TIMEOUT_MS = 500

# --- Metrics ----------------------------------------------------------------------------------
METRICS_LOG_INTERVAL_S = 10.0
# Upper bounds of the batch latency histogram, in seconds.
BATCH_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# --- Outbound stream --------------------------------------------------------------------------
# Notifications per confirmed batch; a restart resends at most one such batch.
PUBLISH_PAGE_NOTIFICATIONS_MAX = 1_000
PUBLISH_IDLE_WAIT_S = 0.5
# Person keys remembered for the events' originators (one read each when forgotten).
PUBLISH_PERSON_KEYS_MAX = 50_000
# A partition held for a cross-shard merge in flight (`consumers.crossing.HOLD`) is read again
# after this pause, so that waiting for the transfer does not spin on the broker and database.
HOLD_WAIT_MS = 20

assert SESSION_TIMEOUT_MS >= 3 * HEARTBEAT_INTERVAL_MS, "three heartbeats per session"
assert SESSION_TIMEOUT_MS_MIN >= 3 * HEARTBEAT_INTERVAL_MS, "three heartbeats per session"
assert SESSION_TIMEOUT_MS_MIN <= SESSION_TIMEOUT_MS <= SESSION_TIMEOUT_MS_MAX
assert FETCH_MAX_WAIT_MS < REQUEST_TIMEOUT_MS < CONNECTIONS_MAX_IDLE_MS, "kafka-python requires"
assert RECOVERY_BACKOFF_MAX_S * RECOVERY_ATTEMPTS_MAX * 1000 < MAX_POLL_INTERVAL_MS
