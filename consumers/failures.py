"""Operating errors of the Kafka processes and the bounded backoff between attempts."""

from __future__ import annotations

import threading
from typing import TextIO

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError
from kafka.errors import KafkaError

from consumers import limits
from consumers.deadletters import DeliveryFailed
from consumers.metrics import Metrics, log


class PositionsMoved(Exception):
    """Another writer recorded positions of our partitions: position again from the store."""


# The store or the broker is unavailable, or a rebalance raced us: retried, never skipped.
# Anything else is a bug or a broken invariant and ends the process.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    OperationalError, InterfaceError, psycopg.OperationalError, KafkaError, DeliveryFailed,
    PositionsMoved,
)


# A known race, not a bug of ours: the ledger writes the tracking rows after its `executemany`
# calls on the same cursor in psycopg's pipeline mode; when the tracking upsert waits on a row
# lock (the previous owner of the partition, SIGKILLed, still holds it until PostgreSQL notices),
# psycopg hands back the previous INSERT's result (or none) and eventsourcing raises one of
# these. The transaction is rolled back, so a retry is exact. (Fix in ledger/postgres.py: sync
# the pipeline before each tracking upsert.)
STALE_PIPELINE_RESULTS = ("the last operation didn't produce records", "no result available")


def is_transient(error: BaseException) -> bool:
    """Whether the error is an operating one, retried after a backoff."""
    if isinstance(error, TRANSIENT_ERRORS):
        return True
    return isinstance(error, ProgrammingError) and str(error).startswith(STALE_PIPELINE_RESULTS)


def backoff_s(attempt: int) -> float:
    """The wait after the n-th consecutive failure (1-based): doubling, capped."""
    return float(min(limits.RECOVERY_BACKOFF_MAX_S,
                     limits.RECOVERY_BACKOFF_FIRST_S * 2 ** (attempt - 1)))


def wait_after(
    error: Exception, attempt: int, stopping: threading.Event, metrics: Metrics, stream: TextIO
) -> None:
    """Log the failure and wait before the next attempt; past the bound, raise it again."""
    metrics.count("failures")
    log(stream, "failure", error=repr(error)[:500], attempt=attempt,
        attempts_max=limits.RECOVERY_ATTEMPTS_MAX)
    if attempt >= limits.RECOVERY_ATTEMPTS_MAX:
        raise error
    stopping.wait(backoff_s(attempt))
