"""Balance reads on the event loop: the hit path of the balance-document cache
(`projections.documents`) and the dated reads (`as_of`, `known_at`).

A cached balance read is one primary-key lookup returning stored bytes; a dated read is one
statement (the account document and the running totals, `projections.tables`) and a document
built from a few totals. Both run on asynchronous connections of their own
(`readconnections`), without a worker thread (a thread hop and the GIL hand-over cost more
than the query). A miss of the cache falls back to the service, in a worker thread (it also
stores the document).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson
from psycopg import AsyncConnection, OperationalError
from psycopg.types.json import set_json_loads

from ledger import limits as ledger_limits
from ledger.http import limits
from ledger.http.readconnections import ReadConnections
from ledger.http.readpool import READ_SESSION_OPTIONS, conninfo_of
from projections.documents import select_cached
from projections.running import decoded
from projections.schema import IS_COMPLETE, Names, is_complete_parameters
from projections.tables import Answer, BalanceStatements, TableReader, merged_into

logger = logging.getLogger("cpa_ledger.http")


async def _configure(connection: AsyncConnection[Any]) -> None:
    """Account documents are jsonb: decode them with orjson (several times faster than json)."""
    set_json_loads(orjson.loads, connection)


class CachedReads:
    def __init__(self, database_url: str, names: Names, tables: TableReader) -> None:
        # Rendered once: psycopg would compose the SQL objects again on every execution.
        self.statement = select_cached(names).as_bytes(None)
        balances = BalanceStatements.of(names)
        self.balance_now = balances.now.as_bytes(None)
        self.balance_at = balances.at.as_bytes(None)
        self.tables = tables
        # Whether dated reads can use the running totals (`TableReader.running_complete`):
        # learnt at start-up; until then, and when they cannot, the service answers them.
        self.dated = False
        self.is_complete = (IS_COMPLETE.encode(),
                            is_complete_parameters(names, "running_balances"))
        self.pool = ReadConnections(
            conninfo_of(database_url), limits.CACHED_READ_POOL_CONNECTIONS_MAX,
            limits.READ_POOL_WAIT_SECONDS, _configure,
            {"autocommit": True, "options": READ_SESSION_OPTIONS,
             "connect_timeout": limits.READ_CONNECT_TIMEOUT_SECONDS})

    async def open(self) -> None:
        await self.pool.open(limits.CACHED_READ_POOL_CONNECTIONS_MIN)
        try:
            async with self.pool.connection() as connection:
                row = await (await connection.execute(*self.is_complete)).fetchone()
        except OperationalError as error:
            logger.warning("dated reads answered in worker threads: %s", error)
            return
        self.dated = bool(row and row[0])
        if not self.dated:
            logger.warning("the running balances predate this store's events: dated reads"
                           " sum the postings until `cpa-ledger rebuild balances`")

    async def close(self) -> None:
        await self.pool.close()

    async def body(self, person_key: str, as_of: dt.date) -> bytes | None:
        """The stored document of this person for `as_of`, or None (a miss)."""
        async with self.pool.connection() as connection:
            # Binary results: the body's bytes as stored, without the text form's hex.
            cursor = await connection.execute(self.statement, (person_key, as_of), prepare=True,
                                              binary=True)
            row = await cursor.fetchone()
        return None if row is None else bytes(row[0])

    async def answer(self, identifier: str, as_of: dt.date,
                     known_at: dt.datetime | None) -> Answer:
        """`TableReader.answer` (of a normalised identifier), on the event loop."""
        key = self.tables.ledger.person_key(identifier)
        statement = self.balance_now if known_at is None else self.balance_at
        async with self.pool.connection() as connection:
            for _ in range(ledger_limits.MERGE_CHAIN_LENGTH_MAX):
                parameters = {"key": key, "as_of": as_of, "known_at": known_at}
                cursor = await connection.execute(statement, parameters, prepare=True,
                                                  binary=True)
                row = await cursor.fetchone()
                assert row is not None, "one row, whatever the key"
                document, totals = row
                survivor = merged_into(document)
                if survivor is None:
                    return self.tables.answer_from(identifier, key, document,
                                                   decoded(totals or ()), as_of, known_at)
                key = survivor
        raise RuntimeError("merge chain too long")
