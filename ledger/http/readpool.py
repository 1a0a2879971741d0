"""The read path's own PostgreSQL connections, for the read-model queries of `TableReader`.

The ledger's datastore wraps every query in BEGIN ... ROLLBACK on a pooled connection that it
pings first: four round trips for one SELECT. A balance read is two SELECTs, each a statement
on its own, so the HTTP service gives its `TableReader` this pool instead: autocommit
connections (one round trip per query; psycopg prepares repeated statements), read-only
sessions (a read can never write), bounded by a statement timeout. A broken connection fails
its query (503 `store_unavailable`) and is dropped by the pool; the next request gets a new one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import orjson
from psycopg import Connection, Cursor
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from ledger.http import limits

POOL_NAME = "cpa-ledger-http-reads"
# Every read connection: bounded statements, and read-only unless a transaction says otherwise.
READ_SESSION_OPTIONS = (f"-c statement_timeout={limits.READ_STATEMENT_TIMEOUT_MS}"
                        " -c default_transaction_read_only=on")


def conninfo_of(database_url: str) -> str:
    """The libpq URL without the ledger's own `?schema=` (read models are schema-qualified)."""
    return urlunsplit(urlsplit(database_url)._replace(query="", fragment=""))


def _configure(connection: Connection[DictRow]) -> None:
    """Account documents are jsonb: decode them with orjson (several times faster than json)."""
    set_json_loads(orjson.loads, connection)


class ReadPool:
    """What `TableReader` needs of a datastore: `transaction(commit=False)` yielding a cursor."""

    def __init__(self, database_url: str) -> None:
        self.pool: ConnectionPool[Connection[DictRow]] = ConnectionPool(
            conninfo_of(database_url), name=POOL_NAME, open=True,
            min_size=limits.READ_POOL_CONNECTIONS_MIN, max_size=limits.READ_POOL_CONNECTIONS_MAX,
            timeout=limits.READ_POOL_WAIT_SECONDS, configure=_configure,
            kwargs={"autocommit": True, "row_factory": dict_row, "options": READ_SESSION_OPTIONS,
                    "connect_timeout": limits.READ_CONNECT_TIMEOUT_SECONDS})

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Cursor[DictRow]]:
        assert not commit, "the read pool is read-only"
        with self.pool.connection() as connection, connection.cursor() as cursor:
            yield cursor

    def close(self) -> None:
        self.pool.close()
