"""Every bound of the HTTP API, with its unit. Change them here, nowhere else."""

from __future__ import annotations

import datetime as dt

from ledger import limits as ledger_limits

# A POST /v1/messages body: bytes read before answering 413, and messages in one array.
REQUEST_BODY_SIZE_MAX_BYTES = 8 * 1024 * 1024
MESSAGES_PER_REQUEST_MAX = 1_000

# Pages of postings (statement lines) and of audit events.
POSTINGS_PAGE_LINES_DEFAULT = 100
POSTINGS_PAGE_LINES_MAX = ledger_limits.STATEMENT_PAGE_LINES_MAX
AUDIT_PAGE_EVENTS_DEFAULT = 100
AUDIT_PAGE_EVENTS_MAX = 500
# An opaque cursor is a short token; anything longer is not one of ours.
CURSOR_LENGTH_MAX_CHARS = 512

# Bearer tokens longer than this are refused before hashing (no real token is that long).
TOKEN_LENGTH_MAX_CHARS = 512
# Failed logins on the pages (`ledger.web.logins`): an address may fail this many times in a
# window opened by its first failure, then waits for the window to close; addresses tracked
# per worker process (the one whose window opened first is forgotten to make room).
LOGIN_FAILURES_MAX = 10
LOGIN_WINDOW_SECONDS = 300
LOGIN_ADDRESSES_MAX = 10_000
# X-Request-Id values we echo; others are replaced by a fresh id.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"

# Dates and timestamps accepted in query parameters: wide enough for any career and any
# simulation, narrow enough that date arithmetic (+1 day, year + 1) never overflows.
DATE_MIN = dt.date(1900, 1, 1)
DATE_MAX = dt.date(2999, 12, 31)
# Years whose accrual can be explained: the CPF's first year (2015) on; earlier years are DIF.
ACCRUAL_YEAR_MIN = 2015
ACCRUAL_YEAR_MAX = DATE_MAX.year - 1

# Readiness: projection lag (events not yet in the read models) above which /readyz says 503.
READY_LAG_MAX_EVENTS_DEFAULT = 10_000

# Year closes swept in the background: finished jobs remembered for their status, and the
# polling step of `CloseSweeps.wait`.
CLOSE_JOBS_REMEMBERED_MAX = 100
CLOSE_POLL_SECONDS = 0.05

# Request log lines are written in batches: at most this long after the request, or as soon as
# this many wait (see `observability.AccessLog`).
ACCESS_LOG_FLUSH_SECONDS = 0.05
ACCESS_LOG_LINES_MAX = 256

# Graceful shutdown: seconds uvicorn waits for requests in flight after SIGTERM.
GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS = 30
# Idle keep-alive connections are closed after this many seconds.
KEEP_ALIVE_TIMEOUT_SECONDS = 5
# Worker processes `serve --workers` may start.
WORKERS_MAX = 64

# The read path's PostgreSQL connections, per worker process (see `readpool`).
READ_POOL_CONNECTIONS_MIN = 2
READ_POOL_CONNECTIONS_MAX = 8
READ_POOL_WAIT_SECONDS = 5.0
READ_CONNECT_TIMEOUT_SECONDS = 10
READ_STATEMENT_TIMEOUT_MS = 5_000
# The cached and dated balance reads' own asynchronous connections, per worker process (see
# `fastreads`, `readconnections`): the first ones made at start-up (or, if the store does not
# answer yet, when first needed), the others when first needed.
CACHED_READ_POOL_CONNECTIONS_MIN = 2
CACHED_READ_POOL_CONNECTIONS_MAX = 8
# Threads per worker process running ledger calls (reads, writes) off the event loop.
WORKER_THREADS_MAX = READ_POOL_CONNECTIONS_MAX
