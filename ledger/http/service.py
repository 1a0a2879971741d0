"""What the HTTP handlers ask of the ledger: one method per endpoint, synchronous (handlers run
them in a worker thread), over the ledger (writes, quote) and its read models (reads).

On the embedded default (SQLite) the reads are computed in-process from the events
(`projections.reader.Reader`); on PostgreSQL they come from the read-model tables kept by
`cpa-ledger project` (`projections.tables.TableReader`).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

from ledger import quotes, shards
from ledger.application import Item, Ledger
from ledger.batch import Result
from ledger.cluster import Cluster
from ledger.homes import PersonHomes
from ledger.http import audit, pages
from ledger.http.closes import CloseSweeps, in_progress
from ledger.http.fastreads import CachedReads
from ledger.http.problems import Problem
from ledger.http.readpool import ReadPool
from ledger.http.settings import HttpSettings
from ledger.ingest import persons
from ledger.parameters import ParameterNotInForce
from ledger.store_identity import ReadOnlyStore
from ledger.texts import plural
from projections.documents import DocumentCache
from projections.operations import is_postgres
from projections.reader import Reader, UnknownMessage
from projections.runner import Runner, live_names
from projections.tables import TableReader
from schemas import Message

# Errors of an unreachable or busy store (connection lost, pool exhausted, database locked):
# answered 503, to retry. Other store errors are bugs: 500.
STORE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, psycopg.OperationalError, sqlite3.OperationalError)


class LedgerService:
    """The ledger and its read side, as the HTTP API sees them."""

    def __init__(self, ledger: Ledger, ready_lag_max_events: int) -> None:
        self.ledger = ledger
        self.postgres = is_postgres(ledger)
        self.ready_lag_max_events = ready_lag_max_events
        self.events = Reader(ledger)
        self.reader: Reader | TableReader = self.events
        self.runner: Runner | None = None
        self.read_pool: ReadPool | None = None
        # Today's balance documents (PostgreSQL): misses computed here, hits on the event loop.
        self.documents: DocumentCache | None = None
        self.cached_reads: CachedReads | None = None
        if self.postgres:
            self.runner = Runner(ledger, live_names(ledger))
            self.runner.create()  # idempotent: reads answer (empty) before `project` first runs
            self.read_pool = ReadPool(ledger.settings.database_url)
            tables = TableReader(ledger, self.runner.names)
            tables.datastore = self.read_pool
            self.reader = tables
            self.documents = DocumentCache(ledger, self.runner.names, self.read_pool.pool)
            self.cached_reads = CachedReads(ledger.settings.database_url, self.runner.names,
                                            tables)
        self.trail = audit.AuditTrail(ledger, self.runner)
        self.homes = PersonHomes(ledger)
        # The ledger keeps decoded accounts in memory between batches: one batch at a time.
        self._writing = threading.Lock()
        self.closes = CloseSweeps(self._sweep)

    def fast_reads(self, person: str) -> CachedReads | None:
        """The event-loop reads of the store that answers for this person (None: SQLite)."""
        return self.cached_reads

    def every_fast_reads(self) -> list[CachedReads]:
        """Every store's event-loop reads, to open and close with the application."""
        return [] if self.cached_reads is None else [self.cached_reads]

    @classmethod
    def build(cls, settings: HttpSettings) -> LedgerService:
        """The service of the single store, or of every shard when CPA_SHARD_MAP names some."""
        shard_map = shards.load(settings.ledger.database_url)
        if not shard_map.is_single:
            from ledger.http.sharded import ShardedService  # it extends this class

            cluster = Cluster.open(settings.ledger, shard_map)
            return ShardedService(cluster, settings.ready_lag_max_events)
        return cls(Ledger(settings.ledger), settings.ready_lag_max_events)

    def close(self) -> None:
        if self.read_pool is not None:
            self.read_pool.close()
        self.ledger.close()

    @property
    def backend(self) -> str:
        return "postgresql" if self.postgres else "sqlite"

    # Writes.

    def ingest(self, items: Sequence[Item]) -> list[Result]:
        if not items:
            return []
        with self._writing:
            try:
                self.ledger.identity.refuse_writes()  # a replay: before any row of ours
                self.homes.note(persons(items))  # as the consumers do (`ledger.homes`)
                return self.ledger.ingest(items, channel="http")
            except ReadOnlyStore as error:
                raise Problem(409, error.reason, str(error)) from error

    def _sweep(self, items: Sequence[Item], progress: Callable[[int], None]) -> list[Result]:
        """A year close, holding the writer's lock but for a moment after each page of persons,
        so that the messages posted meanwhile are decided between pages, not hours later (the
        sweep skips the persons they settled: `ledger.closing`)."""

        def between_pages(settled: int) -> None:
            progress(settled)
            self._writing.release()
            time.sleep(0)  # let a waiting writer take the lock
            self._writing.acquire()

        with self._writing:
            return self.ledger.ingest(items, channel="http", progress=between_pages)

    def start_close(self, message: Message) -> dict[str, Any] | None:
        """Start sweeping a year close in the background and give its status; None when the
        message already has an outcome (it is then answered as any repeat)."""
        key = (str(message.source), str(message.message_id))
        if self.ledger.app.ledger_recorder.select_receipts([key]):
            return None
        try:
            self.ledger.identity.refuse_writes()
        except ReadOnlyStore as error:
            raise Problem(409, error.reason, str(error)) from error
        return self.closes.start(message).status()

    # Reads.

    def balance(self, person: str, as_of: dt.date, known_at: dt.datetime | None) -> Any:
        return self.reader.balance(person, as_of, known_at)

    def balance_of_today(self, person: str, today: dt.date) -> bytes:
        """A cache miss: today's document computed (and stored when still current)."""
        assert self.documents is not None
        return self.documents.fill(person, today)

    def postings(self, person: str, query: pages.LinesQuery, cursor: str | None,
                 limit: int) -> dict[str, Any]:
        lines = self.reader.statement(person, query.start, query.end)
        if query.account is not None:
            lines = [line for line in lines if line["account"] == query.account]
        page, next_cursor = pages.lines_page(lines, query.fingerprint(person), cursor, limit)
        return {"person": person, "postings": page, "limit": limit, "next_cursor": next_cursor}

    def accrual(self, person: str, year: int) -> dict[str, Any]:
        try:
            return self.reader.explain(person, year)
        except ParameterNotInForce as error:
            raise Problem(422, "parameter_not_in_force", str(error)) from error

    def quote(self, person: str, certification: str, price_eur: str,
              on: dt.date) -> dict[str, Any]:
        """What a training order would get on `on`; decides without recording anything."""
        try:
            return quotes.quote_order(self.ledger, person, certification, price_eur, on)
        except quotes.QuoteRefused as error:
            raise Problem(422, error.reason, error.detail) from error

    def message(self, source: str, message_id: str) -> tuple[int, dict[str, Any]]:
        """(200, the recorded outcome), or (202, the status of a year close being swept)."""
        try:
            return 200, self.reader.message(source, message_id)
        except UnknownMessage as error:
            status = self._close_status(source, message_id)
            if status is None:
                raise Problem(404, "unknown_message", str(error)) from error
            return 202, status

    def _close_status(self, source: str, message_id: str) -> dict[str, Any] | None:
        job = self.closes.job(source, message_id)
        if job is not None:
            return job.status()
        year = self.ledger.year_closed_by(source, message_id)
        if year is None:
            return None
        return in_progress(source, message_id, year, None,
                           f"year {year} is closed and its sweep under way in another process,"
                           " or stopped: if no outcome follows, send the message again to "
                           "resume it")

    # Audit.

    def audit_events(self, person: str, cursor: str | None, limit: int) -> dict[str, Any]:
        return self.trail.events_page(person, cursor, limit)

    def verify(self) -> dict[str, Any]:
        return self.trail.verify(self.ledger.settings.database_url)

    # Operations.

    def projection_lag(self) -> int:
        """Events recorded but not yet in the read models (always 0 in-process)."""
        if self.runner is None:
            self.ledger.app.recorder.max_notification_id()  # the store answers
            return 0
        return max(0, self.runner.head() - self.runner.position())

    def readiness(self) -> dict[str, Any]:
        try:
            lag = self.projection_lag()
        except STORE_ERRORS as error:
            raise Problem(503, "store_unreachable", f"the event store does not answer: {error}",
                          extra={"backend": self.backend}) from error
        measures = {"backend": self.backend, "projection_lag_events": lag,
                    "projection_lag_max_events": self.ready_lag_max_events}
        if lag > self.ready_lag_max_events:
            raise Problem(503, "projection_lag",
                          f"the read models lag the event store by {plural(lag, 'event')}",
                          extra=measures)
        return {"status": "ready", **measures}
