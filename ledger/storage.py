"""The ledger's recorder: eventsourcing's process recorder plus the ledger's own tables, written
in the same transaction as the events (one `insert_events` call per batch):

- `message_outcomes`: the first outcome of every `(source, message_id)` — the idempotency key;
- `message_repeats`: every later arrival of a known key (duplicates and conflicting duplicates);
- `person_years`: which persons have facts in which acquisition year (for closing a year);
- eventsourcing's `tracking` table: consumed positions, e.g. Kafka `(topic, partition)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder

from ledger.outcomes import MessageOutcome, Reason, Result, reason_of

# SQLite binds at most 32 766 variables per statement; two per key.
_SQLITE_KEYS_PER_SELECT = 4_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """The recorded outcome of one message (a row of `message_outcomes` or
    `message_repeats`)."""

    source: str
    message_id: str
    digest: str | None
    outcome: MessageOutcome
    reason: Reason | None
    detail: str
    person_key: str | None
    message_type: str | None
    recorded_at: str
    channel: str | None = None

    @classmethod
    def stored(cls, source: str, message_id: str, digest: str | None, outcome: str,
               reason: str | None, detail: str, person_key: str | None,
               message_type: str | None, recorded_at: str, channel: str | None) -> Receipt:
        """A receipt read back from its columns (`RECEIPT_COLUMNS`, in order)."""
        return cls(source=source, message_id=message_id, digest=digest,
                   outcome=MessageOutcome(outcome), reason=reason_of(reason), detail=detail,
                   person_key=person_key, message_type=message_type, recorded_at=recorded_at,
                   channel=channel)

    def result(self) -> Result:
        """What the caller learns from this receipt."""
        return Result(outcome=self.outcome, reason=self.reason, detail=self.detail,
                      source=self.source, message_id=self.message_id,
                      person_key=self.person_key)

    def row(self) -> tuple[str | None, ...]:
        # Explicit, because dataclasses.astuple deep-copies and dominated batch profiles;
        # the enums as their plain values, whatever the driver does with an Enum.
        return (self.source, self.message_id, self.digest, self.outcome.value,
                None if self.reason is None else self.reason.value, self.detail,
                self.person_key, self.message_type, self.recorded_at, self.channel)


RECEIPT_COLUMNS = (
    "source, message_id, digest, outcome, reason, detail, person_key, message_type, "
    "recorded_at, channel"
)


@dataclass(frozen=True, slots=True)
class BatchRecords:
    """Everything a batch writes besides events, committed with them."""

    receipts: Sequence[Receipt] = ()
    repeats: Sequence[Receipt] = ()
    person_years: Sequence[tuple[int, str]] = ()
    trackings: Sequence[Tracking] = ()


class LedgerRecorder(Protocol):
    """What the ledger reads besides events, on every backend."""

    def select_receipts(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Receipt]: ...

    def select_repeats(self, source: str, message_id: str) -> list[Receipt]: ...

    def select_year_persons(self, year: int, after: str, limit: int) -> list[str]: ...

    def select_receipts_page(self, after: tuple[str, str], limit: int) -> list[Receipt]: ...


class LedgerSQLiteRecorder(SQLiteProcessRecorder):
    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        receipt_columns = (
            "source TEXT NOT NULL, message_id TEXT NOT NULL, digest TEXT, outcome TEXT NOT NULL,"
            " reason TEXT, detail TEXT NOT NULL, person_key TEXT, message_type TEXT,"
            " recorded_at TEXT NOT NULL, channel TEXT"
        )
        statements += [
            f"CREATE TABLE IF NOT EXISTS message_outcomes ({receipt_columns},"
            " PRIMARY KEY (source, message_id)) WITHOUT ROWID",
            f"CREATE TABLE IF NOT EXISTS message_repeats ({receipt_columns})",
            "CREATE INDEX IF NOT EXISTS message_repeats_key ON message_repeats"
            " (source, message_id)",
            "CREATE TABLE IF NOT EXISTS person_years (year INTEGER NOT NULL,"
            " person_key TEXT NOT NULL, PRIMARY KEY (year, person_key)) WITHOUT ROWID",
        ]
        return statements

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        records: BatchRecords | None = kwargs.get("records")
        if records is not None:
            self._insert_records(c, records)
        return notification_ids

    def _insert_records(self, c: SQLiteCursor, records: BatchRecords) -> None:
        marks = ",".join("?" * 10)
        if records.receipts:
            c.executemany(
                f"INSERT INTO message_outcomes ({RECEIPT_COLUMNS}) VALUES ({marks})",
                [receipt.row() for receipt in records.receipts],
            )
        if records.repeats:
            c.executemany(
                f"INSERT INTO message_repeats ({RECEIPT_COLUMNS}) VALUES ({marks})",
                [receipt.row() for receipt in records.repeats],
            )
        if records.person_years:
            c.executemany(
                "INSERT OR IGNORE INTO person_years (year, person_key) VALUES (?, ?)",
                list(records.person_years),
            )
        for tracking in records.trackings:
            self._insert_tracking(c, tracking)

    def select_receipts(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Receipt]:
        """The first outcomes of the given keys (those that have one)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], Receipt] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(wanted), _SQLITE_KEYS_PER_SELECT):
                chunk = wanted[start : start + _SQLITE_KEYS_PER_SELECT]
                values = ",".join("(?,?)" for _ in chunk)
                c.execute(
                    f"SELECT {RECEIPT_COLUMNS} FROM message_outcomes"
                    f" WHERE (source, message_id) IN (VALUES {values})",
                    [part for key in chunk for part in key],
                )
                for row in c.fetchall():
                    receipt = Receipt.stored(*tuple(row))
                    found[(receipt.source, receipt.message_id)] = receipt
        return found

    def select_repeats(self, source: str, message_id: str) -> list[Receipt]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT {RECEIPT_COLUMNS} FROM message_repeats"
                " WHERE source = ? AND message_id = ? ORDER BY rowid",
                (source, message_id),
            )
            return [Receipt.stored(*tuple(row)) for row in c.fetchall()]

    def select_receipts_page(self, after: tuple[str, str], limit: int) -> list[Receipt]:
        """Outcomes in key order after `after` (a page, for copying them)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT {RECEIPT_COLUMNS} FROM message_outcomes WHERE (source, message_id) >"
                " (?, ?) ORDER BY source, message_id LIMIT ?",
                (*after, limit),
            )
            return [Receipt.stored(*tuple(row)) for row in c.fetchall()]

    def select_year_persons(self, year: int, after: str, limit: int) -> list[str]:
        """Person keys with facts in `year`, in key order, after `after` (a page)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT person_key FROM person_years WHERE year = ? AND person_key > ?"
                " ORDER BY person_key LIMIT ?",
                (year, after, limit),
            )
            return [row[0] for row in c.fetchall()]
