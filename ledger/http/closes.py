"""Year closes sent over HTTP: accepted at once (202) and swept in the background.

A close settles every person with facts in the year: at France's scale, hours of work that no
request may wait for. `POST /v1/messages` with a lone `accrual.year.closed` starts the sweep on
a thread of the serving process and answers 202 with the message's status resource,
`GET /v1/messages/{source}/{message_id}`: 202 and the persons settled so far while the sweep
goes on, then 200 and the recorded outcome, as for any message.

The sweep is the ledger's own (`ledger.closing`): resumable at any page. Should the process
stop before it ends, the year stays closed in the calendar and the outcome unrecorded; the
status then says so, and sending the same message again resumes the sweep where it stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.application import YEAR_CLOSE_TYPE, Item
from ledger.batch import Result
from ledger.http import limits
from schemas import Message

logger = logging.getLogger("cpa_ledger.http.closes")

Ingest = Callable[[Sequence[Item], Callable[[int], None]], list[Result]]


@dataclass(slots=True)
class CloseJob:
    """One close being swept by this process."""

    source: str
    message_id: str
    year: int
    persons_settled: int = 0
    done: bool = False
    failure: str | None = None

    def status(self) -> dict[str, Any]:
        if self.failure is not None:
            detail = (f"the sweep stopped ({self.failure}); send the message again to resume "
                      "it where it stopped")
        else:
            detail = f"year {self.year}: sweep under way"
        return in_progress(self.source, self.message_id, self.year, self.persons_settled,
                           detail)


def in_progress(source: str, message_id: str, year: int, persons_settled: int | None,
                detail: str) -> dict[str, Any]:
    return {"source": source, "message_id": message_id, "outcome": "in_progress",
            "year": year, "persons_settled": persons_settled, "detail": detail}


def lone_close(items: Sequence[Item]) -> Message | None:
    """The close when the body is one valid `accrual.year.closed` and nothing else."""
    if len(items) != 1:
        return None
    item = items[0]
    if isinstance(item, Message) and item.type == YEAR_CLOSE_TYPE:
        return item
    return None


def has_close(items: Sequence[Item]) -> bool:
    return any(isinstance(item, Message) and item.type == YEAR_CLOSE_TYPE for item in items)


class CloseSweeps:
    """The closes this process sweeps, one thread each, remembered for their status."""

    def __init__(self, ingest: Ingest) -> None:
        self._ingest = ingest
        self._lock = threading.Lock()
        self._jobs: OrderedDict[tuple[str, str], CloseJob] = OrderedDict()

    def start(self, message: Message) -> CloseJob:
        """The job sweeping this close, started unless it is running already."""
        key = (str(message.source), str(message.message_id))
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and not job.done:
                return job
            job = CloseJob(key[0], key[1], int(message.data["year"]))
            self._remember(key, job)
        thread = threading.Thread(target=self._run, args=(job, message),
                                  name=f"close-{job.year}", daemon=True)
        thread.start()
        return job

    def job(self, source: str, message_id: str) -> CloseJob | None:
        with self._lock:
            return self._jobs.get((source, message_id))

    def wait(self, timeout_seconds: float) -> bool:
        """Whether every job has ended within the timeout (tests and shutdown)."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            with self._lock:
                if all(job.done for job in self._jobs.values()):
                    return True
            time.sleep(limits.CLOSE_POLL_SECONDS)
        return False

    def _remember(self, key: tuple[str, str], job: CloseJob) -> None:
        self._jobs[key] = job
        self._jobs.move_to_end(key)
        while len(self._jobs) > limits.CLOSE_JOBS_REMEMBERED_MAX:
            oldest_key, oldest = next(iter(self._jobs.items()))
            if not oldest.done:
                break  # never forget a running job (at most one per close message)
            del self._jobs[oldest_key]

    def _run(self, job: CloseJob, message: Message) -> None:
        def settled(count: int) -> None:
            job.persons_settled = count

        try:
            results = self._ingest([message], settled)
            logger.info("year close %s/%s: %s", job.source, job.message_id,
                        results[0].detail if results else "no outcome")
        except Exception as error:  # recorded in the status; the sweep resumes when resent
            job.failure = f"{type(error).__name__}: {error}"
            logger.exception("year close %s/%s stopped", job.source, job.message_id)
        finally:
            job.done = True
