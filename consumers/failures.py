"""Operating errors of the Kafka processes and the bounded backoff between attempts."""

from __future__ import annotations

import threading
from typing import TextIO

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
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


def is_transient(error: BaseException) -> bool:
    """Whether the error is an operating one, retried after a backoff: by its type alone (the
    recorder turns the pipeline's lost tracking result into `TrackingResultLost`, an
    `OperationalError`)."""
    return isinstance(error, TRANSIENT_ERRORS)


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
