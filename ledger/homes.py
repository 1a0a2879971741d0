"""Where each person's messages are partitioned, kept beside their events (PostgreSQL).

The store knows persons only by their keyed hash (contract §2), from which their partition
cannot be computed; moving partitions to a new shard (`ledger.moves`) must know which persons to
move. So the consumer notes, for each person it records, the Kafka murmur2 hash of the person
identifier (`ledger.partitioner`): the person's partition for *any* partition count. Not a way
back to the identifier: 2^32 values for 10^13 identifiers, and the person key is an HMAC.

The row is written before the batch that records the person (in its own small transaction,
insert-or-ignore): a crash between the two leaves a row for a person with no events, which a
move copies as nothing; never a person with events and no row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg.sql import SQL, Identifier

from ledger.application import Ledger
from ledger.partitioner import POSITIVE_MASK, murmur2

TABLE = "person_partitions"
CREATE_LOCK = "cpa-ledger-person-partitions"


class PersonHomes:
    """The `person_partitions` table of one shard (nothing on SQLite: it is never split)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.datastore: Any = getattr(ledger.app.recorder, "datastore", None)
        self.enabled = hasattr(self.datastore, "schema")
        self.created = False

    def _table(self) -> Any:
        return SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(TABLE))

    def create(self) -> None:
        """The table, once per process (idempotent)."""
        if not self.enabled or self.created:
            return
        with self.datastore.transaction(commit=True) as curs:
            # Consumers starting together on a new shard: CREATE TABLE IF NOT EXISTS run by two
            # sessions at once fails (a unique violation in pg_type).
            curs.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (CREATE_LOCK,))
            curs.execute(SQL("CREATE TABLE IF NOT EXISTS {} (person_key text PRIMARY KEY,"
                             " key_hash bigint NOT NULL)").format(self._table()))
        self.created = True

    def note(self, identifiers: Iterable[str]) -> None:
        """Rows for these (valid) identifiers, in one statement."""
        if not self.enabled:
            return
        rows = {self.ledger.person_key(identifier): murmur2(identifier.encode("utf-8"))
                for identifier in identifiers}
        self.note_keys(rows.items())

    def note_keys(self, rows: Iterable[tuple[str, int]]) -> None:
        pairs = sorted(rows)
        if not self.enabled or not pairs:
            return
        self.create()
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("INSERT INTO {} (person_key, key_hash) SELECT * FROM"
                             " unnest(%s::text[], %s::bigint[]) ON CONFLICT DO NOTHING")
                         .format(self._table()),
                         ([key for key, _ in pairs], [value for _, value in pairs]))

    def hash_of(self, person_key: str) -> int | None:
        self.create()
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT key_hash FROM {} WHERE person_key = %s")
                         .format(self._table()), (person_key,))
            row = curs.fetchone()
        return None if row is None else int(row["key_hash"])

    def in_partitions(self, partitions: Sequence[int], count: int, after: str,
                      limit: int) -> list[tuple[str, int]]:
        """A page of (person key, hash) whose partition, of `count`, is one of `partitions`."""
        self.create()
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT person_key, key_hash FROM {} WHERE person_key > %s AND"
                             " (key_hash & %s) %% %s = ANY(%s) ORDER BY person_key LIMIT %s")
                         .format(self._table()),
                         (after, POSITIVE_MASK, count, list(partitions), limit))
            return [(str(row["person_key"]), int(row["key_hash"])) for row in curs.fetchall()]
