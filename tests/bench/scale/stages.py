"""The in-process stages of the scale benchmark, each run in a child process of its own (so
that its peak RSS is its own): the project's ingestion, the COPY limit, projection catch-up and
rebuild. Each returns picklable figures."""

from __future__ import annotations

import re
import struct
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg import sql

import schemas
from ledger import collector, limits
from ledger.application import YEAR_CLOSE_TYPE, Ledger
from ledger.batch import Result
from ledger.config import Settings
from ledger.demo import DemoSettings, generate
from projections.operations import rebuild
from projections.runner import Runner, live_names
from tests.bench.bench_postgres import Progress, Rate, Stopwatch, events_recorded
from tests.http import server as servers

SETTLED = re.compile(r"(\d+) persons settled")
LIMIT_TABLE = "limit_events"
# Rows of the store read once and written again and again by the limit (versions shifted).
LIMIT_SAMPLE_ROWS_MAX = 100_000
LIMIT_VERSION_STRIDE = 1_000_000_000
# The event store's table, as eventsourcing creates it (eventsourcing.postgres).
LIMIT_DDL = (
    "CREATE TABLE {table} (originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
    " topic text, state bytea, notification_id bigserial,"
    " PRIMARY KEY (originator_id, originator_version))",
    "CREATE UNIQUE INDEX ON {table} (notification_id ASC)",
)
LIMIT_COPY = "COPY {table} (originator_id, originator_version, topic, state) FROM STDIN" \
             " (FORMAT BINARY)"
LIMIT_COLUMNS = 4
# PostgreSQL's binary COPY format: signature, flags, header extension; a -1 field count ends it.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)


@dataclass(frozen=True, slots=True)
class Segment:
    """The messages of one year of the feed (by `published_at`), ingested, closes apart."""

    year: int
    messages: int
    seconds: float
    # The accounts its batches found in the ledger's cache or loaded from the store, and the
    # events replayed after the loaded accounts' snapshots (`Ledger.loads`).
    cached: int = 0
    loaded: int = 0
    replayed: int = 0

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def hit_rate(self) -> float:
        asked = self.cached + self.loaded
        return self.cached / asked if asked else 0.0

    @property
    def replayed_per_load(self) -> float:
        return self.replayed / self.loaded if self.loaded else 0.0

    def plus(self, messages: int, seconds: float, loads: tuple[int, int, int]) -> Segment:
        cached, loaded, replayed = loads
        return Segment(self.year, self.messages + messages, self.seconds + seconds,
                       self.cached + cached, self.loaded + loaded, self.replayed + replayed)


@dataclass(frozen=True, slots=True)
class Close:
    """One `accrual.year.closed` message: the persons its sweep settled, and its time."""

    year: int
    persons: int | None
    seconds: float


@dataclass(slots=True)
class Ingest:
    """What the project's ingestion stage measured."""

    rate: Rate = field(default_factory=lambda: Rate("project", 0, 0, 0.0))
    validate_seconds: float = 0.0
    other_seconds: float = 0.0
    batches: int = 0
    events_table: str = ""
    # Bytes on disk after the feed (tables with their indexes and TOAST), by table.
    store_bytes: dict[str, int] = field(default_factory=dict)
    segments: dict[int, Segment] = field(default_factory=dict)
    closes: list[Close] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    persons: set[str] = field(default_factory=set)

    @property
    def events_per_batch(self) -> int:
        return max(1, self.rate.events // max(1, self.batches + len(self.closes)))

    def add(self, year: int, messages: list[dict[str, Any]], results: list[Result],
            seconds: float, *, close: bool, loads: tuple[int, int, int] = (0, 0, 0)) -> None:
        self.outcomes.update(result.outcome.value for result in results)
        self.persons.update(str(m["person"]) for m in messages if m.get("person"))
        if close:
            found = SETTLED.search(results[0].detail)
            self.closes.append(Close(int(messages[0]["data"]["year"]),
                                     int(found.group(1)) if found else None, seconds))
            return
        self.batches += 1
        before = self.segments.get(year, Segment(year, 0, 0.0))
        self.segments[year] = before.plus(len(messages), seconds, loads)


def project_ledger(database_url: str) -> Ledger:
    """The project's ledger with the person-key secret `cpa-ledger serve` gets in the bench."""
    return Ledger(Settings.from_environment(servers.environment(database_url)))


def runs(messages: Iterable[dict[str, Any]]) -> Iterator[tuple[int, list[dict[str, Any]], bool]]:
    """(year of `published_at`, messages, is a year close): batches of at most
    `limits.INGEST_BATCH_MESSAGES_MAX` messages, each within one year, each close alone."""
    run: list[dict[str, Any]] = []
    year = 0
    for message in messages:
        published = int(str(message["published_at"])[:4])
        close = message["type"] == YEAR_CLOSE_TYPE
        if run and (close or published != year or len(run) >= limits.INGEST_BATCH_MESSAGES_MAX):
            yield year, run, False
            run = []
        if close:
            yield published, [message], True
        else:
            year = published
            run.append(message)
    if run:
        yield year, run, False


def ingest_stage(database_url: str, persons: int, seed: int) -> Ingest:
    """The demo feed through `Ledger.ingest`, batch by batch; parsing timed apart."""
    collector.tune()  # as `cpa-ledger` does
    figures = Ingest()
    validating = Stopwatch()
    progress = Progress("project ingest, messages")
    started = time.perf_counter()
    with project_ledger(database_url) as ledger:
        for year, messages, close in runs(generate(DemoSettings(persons=persons, seed=seed))):
            with validating:
                items = [schemas.parse(orjson.dumps(message)) for message in messages]
            before = _loads(ledger)
            with Stopwatch() as ingesting:
                results = ledger.ingest(items)
            after = _loads(ledger)
            figures.add(year, messages, results, ingesting.seconds, close=close,
                        loads=(after[0] - before[0], after[1] - before[1], after[2] - before[2]))
            progress.update(len(messages))
        table = str(getattr(ledger.app.recorder, "events_table_name", ""))
        figures.events_table = f"{live_names(ledger).schema}.{table}"
        figures.store_bytes = store_bytes(ledger)
        events = events_recorded(ledger)
    ingest_seconds = sum(s.seconds for s in figures.segments.values())
    close_seconds = sum(c.seconds for c in figures.closes)
    figures.rate = Rate("project", sum(figures.outcomes.values()), events,
                        ingest_seconds + close_seconds)
    figures.validate_seconds = validating.seconds
    figures.other_seconds = time.perf_counter() - started - figures.rate.seconds \
        - validating.seconds
    return figures


def store_bytes(ledger: Ledger) -> dict[str, int]:
    """Each table of the ledger's store, with its indexes and TOAST, in bytes."""
    datastore: Any = getattr(ledger.app.recorder, "datastore")  # noqa: B009
    with datastore.transaction(commit=False) as curs:
        curs.execute("SELECT c.relname AS name, pg_total_relation_size(c.oid) AS size"
                     " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                     " WHERE n.nspname = %s AND c.relkind = 'r'", (live_names(ledger).schema,))
        return {str(row["name"]): int(row["size"]) for row in curs.fetchall()}


def _loads(ledger: Ledger) -> tuple[int, int, int]:
    return ledger.loads.cached, ledger.loads.loaded, ledger.loads.replayed_events


def limit_stage(server_url: str, source: str, schema: str, total: int,
                per_transaction: int) -> Rate:
    """`total` event rows written by binary COPY into a table like the event store's, in
    transactions of `per_transaction` rows; the rows are the store's own (`source`: its
    schema-qualified events table), their versions shifted on each pass. Each transaction's
    COPY data is encoded beforehand: the time is the server's (and the socket's) alone."""
    table = sql.Identifier(schema, LIMIT_TABLE)
    with psycopg.connect(server_url) as connection:
        sample = connection.execute(
            sql.SQL("SELECT originator_id, originator_version, topic, state FROM {}"
                    " ORDER BY notification_id LIMIT %s")
            .format(sql.Identifier(*source.split("."))), (LIMIT_SAMPLE_ROWS_MAX,)).fetchall()
        connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
            sql.Identifier(schema)))
        for statement in LIMIT_DDL:
            connection.execute(sql.SQL(statement).format(table=table))
        connection.commit()
        copied, seconds = 0, 0.0
        while copied < total and sample:
            count = min(per_transaction, total - copied)
            data = copy_data(sample, copied, count)
            with Stopwatch() as copying:
                with connection.cursor() as cursor, \
                        cursor.copy(sql.SQL(LIMIT_COPY).format(table=table)) as copy:
                    copy.write(data)
                connection.commit()
            copied += count
            seconds += copying.seconds
    return Rate("limit", 0, copied, seconds)


def copy_data(sample: list[Any], start: int, count: int) -> bytes:
    """Rows `start` .. `start + count` of the endless repetition of `sample` (each pass with
    its versions shifted by LIMIT_VERSION_STRIDE) in PostgreSQL's binary COPY format."""
    parts = [COPY_HEADER]
    for index in range(start, start + count):
        originator_id, version, topic, state = sample[index % len(sample)]
        shifted = version + LIMIT_VERSION_STRIDE * (index // len(sample))
        topic_bytes = str(topic).encode("utf-8")
        parts.append(struct.pack("!hi16siqi", LIMIT_COLUMNS, 16, originator_id.bytes, 8,
                                 shifted, len(topic_bytes)))
        parts.append(topic_bytes)
        parts.append(struct.pack("!i", len(state)))
        parts.append(bytes(state))
    parts.append(COPY_TRAILER)
    return b"".join(parts)


def catch_up_stage(database_url: str) -> Rate:
    """The live read models brought to the head of the log, from nothing."""
    collector.tune()  # as `cpa-ledger` does
    with project_ledger(database_url) as ledger:
        runner = Runner(ledger, live_names(ledger))
        runner.create()
        with Stopwatch() as projecting:
            events = runner.catch_up(Progress("project catch-up, events"))
    return Rate("catch-up", 0, events, projecting.seconds)


def rebuild_stage(database_url: str) -> Rate:
    """`projections.operations.rebuild` of every read model over the whole log."""
    collector.tune()  # as `cpa-ledger` does
    with project_ledger(database_url) as ledger, Stopwatch() as rebuilding:
        events = rebuild(ledger, [], progress=Progress("rebuild, events"))
    return Rate("rebuild", 0, events, rebuilding.seconds)
