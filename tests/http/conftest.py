"""Fixtures of the HTTP tests: a real `cpa-ledger serve` per module and backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.http import server as servers

BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


def fresh_database_url(request: pytest.FixtureRequest, folder: Path, kind: str) -> str:
    """A new empty store: an SQLite file, or a new schema of the session's PostgreSQL."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'ledger.db'}"
    base: str = request.getfixturevalue("postgres_url")
    schema = f"http_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    return f"{base}?schema={schema}"


@pytest.fixture(scope="module")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return servers.write_tokens(tmp_path_factory.mktemp("tokens") / "tokens")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           tokens_file: Path) -> Iterator[servers.Server]:
    """A server with the test tokens, on a fresh store of each backend."""
    folder = tmp_path_factory.mktemp(f"serve-{request.param}")
    url = fresh_database_url(request, folder, request.param)
    running = servers.start(url, folder / "serve.log", CPA_API_TOKENS_FILE=str(tokens_file))
    yield running
    running.stop()
