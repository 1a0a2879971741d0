"""PostgreSQL: the production store. eventsourcing's process recorder plus the ledger's own
tables (see `ledger.storage`), written in the same transaction as the events, and a versioned
schema set-up that runs automatically at start-up."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

import psycopg
from eventsourcing.persistence import OperationalError, StoredEvent, Tracking
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
)
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composed, Identifier

from ledger.storage import RECEIPT_COLUMNS, BatchRecords, Receipt

# Connection pool and session bounds (PostgreSQL sessions of this process).
POOL_SIZE_CONNECTIONS = 4
POOL_OVERFLOW_CONNECTIONS = 4
CONNECT_TIMEOUT_SECONDS = 10
LOCK_TIMEOUT_SECONDS = 10
STATEMENT_TIMEOUT_MS = 60_000
IDLE_IN_TRANSACTION_TIMEOUT_SECONDS = 60

_RECEIPT_COLUMNS_DDL = (
    "source text NOT NULL, message_id text NOT NULL, digest text, outcome text NOT NULL,"
    " reason text, detail text NOT NULL, person_key text, message_type text,"
    " recorded_at text NOT NULL, channel text"
)

# Versioned schema of the ledger's own tables: append, never edit an applied entry.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, (
        f"CREATE TABLE IF NOT EXISTS {{schema}}.message_outcomes ({_RECEIPT_COLUMNS_DDL},"
        " PRIMARY KEY (source, message_id))",
        f"CREATE TABLE IF NOT EXISTS {{schema}}.message_repeats (id bigserial PRIMARY KEY,"
        f" {_RECEIPT_COLUMNS_DDL})",
        "CREATE INDEX IF NOT EXISTS message_repeats_key ON {schema}.message_repeats"
        " (source, message_id)",
        "CREATE TABLE IF NOT EXISTS {schema}.person_years (year integer NOT NULL,"
        " person_key text NOT NULL, PRIMARY KEY (year, person_key))",
    )),
)


def database_environment(database_url: str) -> dict[str, str]:
    """eventsourcing's PostgreSQL settings for a `postgresql://user:pw@host:port/db?schema=s`."""
    parts = urlsplit(database_url)
    query = parse_qs(parts.query)
    return {
        "PERSISTENCE_MODULE": "ledger.postgres:LedgerPostgresFactory",
        "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_SCHEMA": query.get("schema", ["public"])[0],
        "POSTGRES_POOL_SIZE": str(POOL_SIZE_CONNECTIONS),
        "POSTGRES_MAX_OVERFLOW": str(POOL_OVERFLOW_CONNECTIONS),
        "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_SECONDS),
        "POSTGRES_LOCK_TIMEOUT": str(LOCK_TIMEOUT_SECONDS),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": str(IDLE_IN_TRANSACTION_TIMEOUT_SECONDS),
        "POSTGRES_PRE_PING": "y",
        "APPLICATION_RECORDER_TOPIC": "ledger.postgres:LedgerPostgresRecorder",
    }


def bound_sessions(datastore: PostgresDatastore) -> None:
    """Every session of the pool gets a statement timeout and a lock timeout."""
    options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout=" \
              f"{LOCK_TIMEOUT_SECONDS * 1000}"
    connection_arguments = datastore.pool.kwargs
    assert isinstance(connection_arguments, dict)
    connection_arguments["options"] = options


# The session lock under which a process sets up the store at start-up. eventsourcing's set-up
# is not safe to run in several sessions at once: every start runs `CREATE OR REPLACE FUNCTION`
# (two at once: "tuple concurrently updated"), and on a new store `CREATE TYPE` and `CREATE
# TABLE IF NOT EXISTS` (a unique violation in pg_type) and its tracking table's first row. Held
# on a connection of its own across eventsourcing's several transactions.
START_UP_LOCK = "cpa-ledger-start-up"
# The longest a start waits for the others' set-ups (each a fraction of a second; a whole
# deployment may start at once).
START_UP_WAIT_SECONDS = 60

# How PostgreSQL compresses a snapshot's `state` (several kB, so stored compressed out of line):
# lz4 rather than the default pglz (measured on 60 000 snapshots of a long career's size:
# inserts 2.6x faster, a batch's read of 2 000 of them 28 % faster, 18 % more bytes).
SNAPSHOT_COMPRESSION = "lz4"
# Whether the server offers it and the column does not use it yet ('l' is lz4).
SNAPSHOT_COMPRESSION_CHECK = (
    "SELECT %s = ANY (s.enumvals) AND a.attcompression <> 'l' AS wanted"
    " FROM pg_settings s, pg_attribute a"
    " WHERE s.name = 'default_toast_compression'"
    " AND a.attrelid = (quote_ident(%s) || '.' || quote_ident(%s))::regclass"
    " AND a.attname = 'state'"
)

# "No upper bound" for `select_latest`: the largest bigint.
VERSION_MAX = 2**63 - 1


class TrackingResultLost(OperationalError):
    """The tracking upsert's RETURNING row was not handed back: a known race, not a bug of
    ours. The ledger writes the tracking rows after `executemany` calls on the same cursor in
    psycopg's pipeline mode; when the upsert waits on a row lock (the previous owner of the
    partition, SIGKILLed, holds it until PostgreSQL notices), psycopg hands back the previous
    statement's result, or none. The transaction rolls back, so a retry is exact: an operating
    error (eventsourcing's `OperationalError`), recognised by its type."""


def insert_columns(datastore: PostgresDatastore, table: str, returning: str = "") -> Composed:
    """An insert of stored events as four arrays of plain types, sent in binary (see
    `LedgerPostgresRecorder._insert_stored_events`)."""
    return SQL(
        "INSERT INTO {}.{} (originator_id, originator_version, topic, state)"
        " SELECT * FROM unnest(%b::{}[], %b::bigint[], %b::text[], %b::bytea[])" + returning
    ).format(Identifier(datastore.schema), Identifier(table),
             Identifier(datastore.originator_id_type))


def columns(stored_events: Sequence[StoredEvent]) -> tuple[list[Any], ...]:
    return ([event.originator_id for event in stored_events],
            [event.originator_version for event in stored_events],
            [event.topic for event in stored_events],
            [event.state for event in stored_events])


@contextlib.contextmanager
def start_up_lock(datastore: PostgresDatastore) -> Iterator[None]:
    """`START_UP_LOCK`, held on a connection of its own for the body."""
    with datastore.get_connection() as connection:
        connection.execute(SQL("SET lock_timeout = {}").format(f"{START_UP_WAIT_SECONDS}s"))
        try:
            connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (START_UP_LOCK,))
        finally:
            connection.execute("RESET lock_timeout")
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", (START_UP_LOCK,))


class SnapshotRecorder(PostgresAggregateRecorder):
    """eventsourcing's snapshot table, written as the events are (four binary arrays): its own
    insert sends one array of a composite type in text, whose bytea elements psycopg escapes
    with a regular expression (measured: a millisecond per snapshot of a long career, 8 % of a
    late year's ingestion past the account cache)."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self._insert_columns = insert_columns(datastore, self.events_table_name)

    def create_table(self) -> None:
        """eventsourcing's table (one process at a time, as the events'), its `state` column
        compressed with lz4 when the server has it (see `SNAPSHOT_COMPRESSION`)."""
        with start_up_lock(self.datastore):
            super().create_table()
            with self.datastore.transaction(commit=True) as curs:
                curs.execute(SNAPSHOT_COMPRESSION_CHECK, (SNAPSHOT_COMPRESSION,
                                                          self.datastore.schema,
                                                          self.events_table_name))
                row = curs.fetchone()
                if row is not None and row["wanted"]:
                    curs.execute(SQL("ALTER TABLE {}.{} ALTER COLUMN state SET COMPRESSION {}")
                                 .format(Identifier(self.datastore.schema),
                                         Identifier(self.events_table_name),
                                         SQL(SNAPSHOT_COMPRESSION)))

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        curs.execute(self._insert_columns, columns(stored_events), binary=True)


class LedgerPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory, with the ledger's snapshot recorder."""

    aggregate_recorder_class = SnapshotRecorder


class LedgerPostgresRecorder(PostgresProcessRecorder):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        bound_sessions(datastore)
        super().__init__(datastore, **kwargs)
        self._schema = Identifier(datastore.schema)
        self._insert_columns = insert_columns(datastore, self.events_table_name,
                                              " RETURNING notification_id")

    def create_table(self) -> None:
        """eventsourcing's tables, types and insert function, then the ledger's migrations, one
        process at a time (see `START_UP_LOCK`)."""
        with start_up_lock(self.datastore):
            super().create_table()
            self.migrate()

    def migrate(self) -> None:
        """Apply the ledger's schema migrations not applied yet, under an advisory lock so that
        processes starting together do not race."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(hashtext('cpa-ledger-migrations'))")
            curs.execute(SQL("CREATE TABLE IF NOT EXISTS {}.cpa_schema_version (version integer"
                             " PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
                         .format(self._schema))
            curs.execute(SQL("SELECT coalesce(max(version), 0) AS v FROM {}.cpa_schema_version")
                         .format(self._schema))
            row = curs.fetchone()
            current = int(row["v"]) if row else 0
            for version, statements in MIGRATIONS:
                if version > current:
                    self._apply(curs, version, statements)

    def _apply(self, curs: Cursor[DictRow], version: int, statements: Sequence[str]) -> None:
        for statement in statements:
            curs.execute(SQL(statement).format(schema=self._schema))
        curs.execute(SQL("INSERT INTO {}.cpa_schema_version (version) VALUES (%s)")
                     .format(self._schema), (version,))

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """eventsourcing's insert, with four arrays of plain types instead of one array of a
        composite type: psycopg dumps plain arrays several times faster (measured: the
        composite dump was a fifth of a batch's time), and in binary format faster still (the
        text format escapes every element of the bytea array with a regular expression).
        Same lock, notification and order."""
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self._insert_columns, columns(stored_events), binary=True)

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        records: BatchRecords | None = kwargs.get("records")
        if records is not None:
            self._insert_records(curs, records)

    def _insert_tracking(self, curs: Cursor[DictRow], tracking: Tracking) -> None:
        try:
            super()._insert_tracking(curs, tracking)
        except psycopg.ProgrammingError as error:
            # The server's own errors carry a SQLSTATE; a result psycopg could not hand back
            # (`fetchone`: "the last operation didn't produce records") does not.
            if error.sqlstate is not None:
                raise
            raise TrackingResultLost(
                f"tracking {tracking.application_name} {tracking.notification_id}: {error}"
            ) from error

    def _insert_receipts(self, table: str) -> Composed:
        arrays = SQL(", ".join(["%b::text[]"] * (RECEIPT_COLUMNS.count(",") + 1)))
        return SQL("INSERT INTO {} ({}) SELECT * FROM unnest({})").format(
            self._table(table), SQL(RECEIPT_COLUMNS), arrays)

    def _table(self, name: str) -> Composed:
        return SQL("{}.{}").format(self._schema, Identifier(name))

    def _insert_records(self, curs: Cursor[DictRow], records: BatchRecords) -> None:
        # Positions first: the tracking upsert reads its RETURNING row, which psycopg's
        # pipeline mode can mismatch when it follows executemany() on the same cursor.
        for tracking in records.trackings:
            self._insert_tracking(curs, tracking)
        # One statement of ten text arrays: a batch's outcomes are thousands of rows, which
        # executemany sends one by one (COPY is not allowed in eventsourcing's pipeline).
        # Every array is sent in binary (`%b`): psycopg's text format quotes and escapes each
        # element with regular expressions (measured: a seventh of a batch's CPU time).
        for table, receipts in (("message_outcomes", records.receipts),
                                ("message_repeats", records.repeats)):
            if receipts:
                curs.execute(self._insert_receipts(table),
                             [list(column) for column in zip(*(r.row() for r in receipts),
                                                             strict=True)], binary=True)
        if records.person_years:
            years, keys = zip(*records.person_years, strict=True)
            curs.execute(
                SQL("INSERT INTO {} (year, person_key) SELECT * FROM unnest(%b::integer[],"
                    " %b::text[]) ON CONFLICT DO NOTHING").format(self._table("person_years")),
                (list(years), list(keys)))

    def select_receipts(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Receipt]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        sources = [source for source, _ in wanted]
        message_ids = [message_id for _, message_id in wanted]
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT {} FROM {} WHERE (source, message_id) IN"
                    " (SELECT * FROM unnest(%b::text[], %b::text[]))")
                .format(SQL(RECEIPT_COLUMNS), self._table("message_outcomes")),
                (sources, message_ids),
            )
            rows = curs.fetchall()
        return {(row["source"], row["message_id"]): Receipt.stored(**row) for row in rows}

    def select_repeats(self, source: str, message_id: str) -> list[Receipt]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT {} FROM {} WHERE source = %s AND message_id = %s ORDER BY id")
                .format(SQL(RECEIPT_COLUMNS), self._table("message_repeats")),
                (source, message_id),
            )
            return [Receipt.stored(**row) for row in curs.fetchall()]

    def select_receipts_page(self, after: tuple[str, str], limit: int) -> list[Receipt]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT {} FROM {} WHERE (source, message_id) > (%s, %s)"
                    " ORDER BY source, message_id LIMIT %s")
                .format(SQL(RECEIPT_COLUMNS), self._table("message_outcomes")),
                (*after, limit),
            )
            return [Receipt.stored(**row) for row in curs.fetchall()]

    def select_latest(
        self, originator_ids: Sequence[UUID], snapshots_table: str,
        versions: Sequence[int] | None = None,
    ) -> tuple[list[StoredEvent], list[StoredEvent]]:
        """For many aggregates at once: the latest snapshot of each (at or before its version in
        `versions`, when given) and its stored events after that snapshot (up to that version),
        ordered by aggregate and version. Two statements for a whole batch or page, instead of
        two per aggregate (`Ledger._prefetch`, `PersonTracker.prefetch`)."""
        if not originator_ids:
            return [], []
        ids = list(originator_ids)
        until = list(versions) if versions is not None else [VERSION_MAX] * len(ids)
        with self.datastore.transaction(commit=False) as dict_cursor, \
                dict_cursor.connection.cursor(row_factory=tuple_row) as curs:
            # Tuples, not dicts: a batch reads tens of thousands of rows here.
            # One backward index probe per aggregate (LATERAL ... LIMIT 1): a DISTINCT ON
            # join read every snapshot a long career ever took.
            curs.execute(
                SQL("SELECT s.originator_id, s.originator_version, s.topic, s.state"
                    " FROM unnest(%b::uuid[], %b::bigint[]) AS t(id, until)"
                    " CROSS JOIN LATERAL (SELECT * FROM {} x WHERE x.originator_id = t.id"
                    " AND x.originator_version <= t.until"
                    " ORDER BY x.originator_version DESC LIMIT 1) s")
                .format(self._table(snapshots_table)), (ids, until))
            snapshots = [_stored(*row) for row in curs.fetchall()]
            after = {snapshot.originator_id: snapshot.originator_version for snapshot in snapshots}
            # Each aggregate's events by their own index range, in version order (LATERAL):
            # a join left to the planner turned to a hash join over the whole events table
            # once its statistics grew (measured: a batch's read 8x slower for a year's feed).
            curs.execute(
                SQL("SELECT e.originator_id, e.originator_version, e.topic, e.state"
                    " FROM unnest(%b::uuid[], %b::bigint[], %b::bigint[]) AS t(id, after, until)"
                    " CROSS JOIN LATERAL (SELECT * FROM {} x WHERE x.originator_id = t.id"
                    " AND x.originator_version > t.after AND x.originator_version <= t.until"
                    " ORDER BY x.originator_version) e")
                .format(self._table(self.events_table_name)),
                (ids, [after.get(i, 0) for i in ids], until))
            events = [_stored(*row) for row in curs.fetchall()]
        return snapshots, events

    def select_year_persons(self, year: int, after: str, limit: int) -> list[str]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT person_key FROM {} WHERE year = %s AND person_key > %s"
                    " ORDER BY person_key LIMIT %s").format(self._table("person_years")),
                (year, after, limit),
            )
            return [row["person_key"] for row in curs.fetchall()]


def _stored(originator_id: UUID, originator_version: int, topic: str, state: bytes) -> StoredEvent:
    return StoredEvent(originator_id=originator_id, originator_version=originator_version,
                       topic=topic, state=bytes(state))
