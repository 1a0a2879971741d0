"""The hot reads' connections (`readconnections`): bounded, reused, and a broken one replaced."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from ledger.http.readconnections import Connection, ReadConnections
from tests.http.server import free_port

pytestmark = pytest.mark.postgres

WAIT_SECONDS = 0.05


async def _nothing(connection: Connection) -> None:
    return None


def _connections(postgres_url: str, size: int) -> ReadConnections:
    return ReadConnections(postgres_url, size, WAIT_SECONDS, _nothing, {"autocommit": True})


async def _backend(connections: ReadConnections) -> Any:
    async with connections.connection() as connection:
        row = await (await connection.execute("SELECT pg_backend_pid()")).fetchone()
        assert row is not None
        return row[0]


def test_an_idle_connection_is_reused(postgres_url: str) -> None:
    async def scenario() -> None:
        connections = _connections(postgres_url, 2)
        assert await _backend(connections) == await _backend(connections)
        await connections.close()

    asyncio.run(scenario())


def test_a_read_finding_every_connection_busy_times_out(postgres_url: str) -> None:
    async def scenario() -> None:
        connections = _connections(postgres_url, 1)
        async with connections.connection():
            with pytest.raises(PoolTimeout):
                await _backend(connections)
        await _backend(connections)  # the slot came back
        await connections.close()

    asyncio.run(scenario())


def test_a_broken_connection_is_replaced(postgres_url: str) -> None:
    async def scenario() -> None:
        connections = _connections(postgres_url, 1)
        first = await _backend(connections)
        with psycopg.connect(postgres_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (first,))
        with pytest.raises(psycopg.OperationalError):
            await _backend(connections)
        assert await _backend(connections) != first
        await connections.close()

    asyncio.run(scenario())


def test_a_connection_left_in_a_transaction_is_not_reused(postgres_url: str) -> None:
    async def scenario() -> None:
        connections = _connections(postgres_url, 1)
        async with connections.connection() as connection:
            await connection.set_autocommit(False)
            await connection.execute("SELECT 1")
            row = await (await connection.execute("SELECT pg_backend_pid()")).fetchone()
            assert row is not None
        assert await _backend(connections) != row[0]
        await connections.close()

    asyncio.run(scenario())


def test_open_makes_the_connections_asked_for(postgres_url: str) -> None:
    async def scenario() -> None:
        connections = _connections(postgres_url, 3)
        await connections.open(2)
        assert len(connections.idle) == 2
        await connections.close()
        assert connections.idle == []

    asyncio.run(scenario())


def test_open_on_a_store_that_does_not_answer_leaves_the_connections_for_later(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        connections = ReadConnections(f"postgresql://127.0.0.1:{free_port()}/none", 2,
                                      WAIT_SECONDS, _nothing, {"connect_timeout": 1})
        await connections.open(2)
        assert connections.idle == []
        with pytest.raises(psycopg.OperationalError):
            await _backend(connections)

    asyncio.run(scenario())
    assert "read connections not made at start-up" in caplog.text
