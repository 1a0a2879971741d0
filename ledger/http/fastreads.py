"""The hit path of the balance-document cache (`projections.documents`), on the event loop.

A cached balance read is one primary-key lookup returning stored bytes: it runs on an
asynchronous connection pool of its own, without a worker thread (a thread hop and the GIL
hand-over cost more than the query). A miss falls back to the service, in a worker thread.
"""

from __future__ import annotations

import datetime as dt

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from ledger.http import limits
from ledger.http.readpool import READ_SESSION_OPTIONS, conninfo_of
from projections.documents import select_cached
from projections.schema import Names

POOL_NAME = "cpa-ledger-http-cached-reads"


class CachedReads:
    def __init__(self, database_url: str, names: Names) -> None:
        self.statement = select_cached(names)
        self.pool: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
            conninfo_of(database_url), name=POOL_NAME, open=False,
            min_size=limits.CACHED_READ_POOL_CONNECTIONS_MIN,
            max_size=limits.CACHED_READ_POOL_CONNECTIONS_MAX,
            timeout=limits.READ_POOL_WAIT_SECONDS,
            kwargs={"autocommit": True, "options": READ_SESSION_OPTIONS,
                    "connect_timeout": limits.READ_CONNECT_TIMEOUT_SECONDS})

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    async def body(self, person_key: str, as_of: dt.date) -> bytes | None:
        """The stored document of this person for `as_of`, or None (a miss)."""
        async with self.pool.connection() as connection:
            cursor = await connection.execute(self.statement, (person_key, as_of), prepare=True)
            row = await cursor.fetchone()
        return None if row is None else bytes(row[0])
