"""The event loop's own PostgreSQL connections, for the hot reads of `fastreads`.

psycopg_pool's asynchronous pool costs about as much CPU per checkout as a cached read's query
itself (measured with 8 connections and 16 concurrent readers under uvloop: 76 us of CPU per
read through the pool, 40 us with a bare semaphore over the same connections). The hot path
keeps this plain bounded set instead: at most `size` connections in use, idle ones reused last
in first out, a new one made when none is idle, and one that broke (or was left inside a
transaction) closed and forgotten, so the next read gets a fresh one. A read that finds every
connection busy for `wait_seconds` fails with `PoolTimeout` (a psycopg OperationalError: 503
`store_unavailable`, to retry).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection, OperationalError
from psycopg.pq import TransactionStatus
from psycopg_pool import PoolTimeout

Connection = AsyncConnection[tuple[Any, ...]]
logger = logging.getLogger("cpa_ledger.http")


class ReadConnections:
    def __init__(self, conninfo: str, size: int, wait_seconds: float,
                 configure: Callable[[Connection], Awaitable[None]],
                 options: dict[str, Any]) -> None:
        self.conninfo = conninfo
        self.wait_seconds = wait_seconds
        self.configure = configure
        self.options = options
        self.size = size  # connections at most
        self.slots = asyncio.Semaphore(size)
        self.idle: list[Connection] = []
        self.closing = False

    async def open(self, count: int) -> None:
        """Make `count` connections now, so that the first reads do not wait for them; a store
        that does not answer yet is logged, and the reads make their connections later."""
        made = await asyncio.gather(*(self._connect() for _ in range(min(count, self.size))),
                                    return_exceptions=True)
        self.idle.extend(c for c in made if isinstance(c, AsyncConnection))
        failures = [error for error in made if isinstance(error, OperationalError)]
        if failures:
            logger.warning("read connections not made at start-up (made when needed): %s",
                           failures[0])
        unexpected = [error for error in made if isinstance(error, BaseException)
                      and not isinstance(error, OperationalError)]
        if unexpected:
            raise unexpected[0]

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        await self._acquire()
        connection: Connection | None = None
        try:
            connection = self.idle.pop() if self.idle else await self._connect()
            yield connection
        finally:
            try:
                if connection is not None:
                    await self._give_back(connection)
            finally:
                self.slots.release()

    async def _acquire(self) -> None:
        if not self.slots.locked():
            await self.slots.acquire()  # a free slot: returns at once
            return
        try:
            await asyncio.wait_for(self.slots.acquire(), self.wait_seconds)
        except TimeoutError as error:
            raise PoolTimeout(f"no read connection free within {self.wait_seconds} s") \
                from error

    async def _connect(self) -> Connection:
        connection: Connection = await AsyncConnection.connect(self.conninfo, **self.options)
        await self.configure(connection)
        return connection

    async def _give_back(self, connection: Connection) -> None:
        reusable = (not connection.closed and not connection.broken and not self.closing
                    and connection.info.transaction_status == TransactionStatus.IDLE)
        if reusable:
            self.idle.append(connection)
        else:
            await connection.close()

    async def close(self) -> None:
        """Close the idle connections; those in use close when given back."""
        self.closing = True
        idle, self.idle = self.idle, []
        for connection in idle:
            await connection.close()
