"""Today's balance documents, cached for the hot read: `GET /v1/persons/{p}/balances` without
`as_of` (or with today's) and without `known_at`, the portal's and advisors' everyday question.

The cache is a table beside the `balances` read model (`balance_documents`: person key,
version, the date the body answers for, the body's bytes):

- the projector invalidates: every page that touches a person gives that person's row a new
  version (the page transaction's id, never reused, also not by a rebuilt table set) and no
  body, in the page's transaction (`projections.balances.invalidate`);
- a read that misses computes the document from the tables in one REPEATABLE READ snapshot,
  together with the version it saw there, then stores it only where the version is still the
  one it saw. A document computed before a change can therefore never be stored after it,
  whatever the interleaving: the conditional UPDATE waits for a concurrent page's row lock and
  then finds the new version;
- a hit is one primary-key lookup returning the stored bytes (`SELECT_CACHED`).

Only documents of existing accounts that answer for themselves are stored: an unknown person
(no row to invalidate) and an identifier merged into another (whose changes invalidate the
survivor's row, not this one) are computed on every read. A body answers for one date: the
first read of a new day recomputes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from psycopg import Connection, Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed
from psycopg_pool import ConnectionPool

from ledger.application import Ledger
from ledger.identity import normalise
from projections.schema import Names
from projections.tables import TableReader

TABLE = "balance_documents"
# No row yet for this person (a table created on an existing store): the fill inserts one,
# unless the projector has written one since.
UNVERSIONED = 0


def select_cached(names: Names) -> Composed:
    """The hit: the body stored for (person key, date), if any."""
    return SQL("SELECT body FROM {} WHERE person_key = %s AND as_of = %s"
               " AND body IS NOT NULL").format(names.table(TABLE))


class _Pinned:
    """A datastore whose every "transaction" is the one open cursor: `TableReader`'s queries
    all run in the fill's snapshot."""

    def __init__(self, cursor: Cursor[DictRow]) -> None:
        self.cursor = cursor

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Cursor[DictRow]]:
        yield self.cursor


class DocumentCache:
    """Computes a missing balance document of today and stores it when still current."""

    def __init__(self, ledger: Ledger, names: Names,
                 pool: ConnectionPool[Connection[DictRow]]) -> None:
        self.ledger = ledger
        self.names = names
        self.pool = pool
        self.running_complete: bool | None = None  # learnt from the first fill

    def cached(self, identifier: str, as_of: dt.date) -> bytes | None:
        key = self.ledger.person_key(normalise(identifier))
        with self.pool.connection() as connection:
            row = connection.execute(select_cached(self.names), (key, as_of)).fetchone()
        return None if row is None else bytes(row["body"])

    def fill(self, identifier: str, as_of: dt.date) -> bytes:
        """The document's bytes, computed from the tables; stored for the next reads."""
        identifier = normalise(identifier)
        key = self.ledger.person_key(identifier)
        with self.pool.connection() as connection:
            body, version, storable = self._compute(connection, identifier, key, as_of)
            if storable:
                self._store(connection, key, version, as_of, body)
        return body

    def _compute(self, connection: Connection[DictRow], identifier: str, key: str,
                 as_of: dt.date) -> tuple[bytes, int | None, bool]:
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute(SQL("SELECT version FROM {} WHERE person_key = %s")
                           .format(self.names.table(TABLE)), (key,))
            row = cursor.fetchone()
            reader = TableReader(self.ledger, self.names, self.running_complete)
            reader.datastore = _Pinned(cursor)
            answer = reader.answer(identifier, as_of)
            self.running_complete = reader.running_complete()
        version = None if row is None else int(row["version"])
        storable = answer.known and answer.key == key
        return orjson.dumps(answer.document), version, storable

    def _store(self, connection: Connection[DictRow], key: str, version: int | None,
               as_of: dt.date, body: bytes) -> None:
        table = self.names.table(TABLE)
        with connection.transaction(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ WRITE")
            if version is None:
                statement: Any = SQL("INSERT INTO {} (person_key, version, as_of, body)"
                                     " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING")
                cursor.execute(statement.format(table), (key, UNVERSIONED, as_of, body))
            else:
                statement = SQL("UPDATE {} SET as_of = %s, body = %s"
                                " WHERE person_key = %s AND version = %s")
                cursor.execute(statement.format(table), (as_of, body, key, version))

