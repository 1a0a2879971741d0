"""One contract suite, two backends: tests take `ledgers` and run against SQLite and against
the session's real PostgreSQL server (`@pytest.mark.postgres`), each ledger in a fresh store."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from ledger.application import Ledger
from ledger.clock import Clock, system_clock
from tests.support import ledger_at

_SCHEMA_NUMBERS = itertools.count()


@dataclass
class Ledgers:
    """Makes ledgers on fresh, empty stores of one backend."""

    kind: str
    database_url: str | None = None
    # One count for the whole session: stores of different modules never share a schema name.
    _numbers: Iterator[int] = field(default_factory=lambda: _SCHEMA_NUMBERS)

    def new(self, clock: Clock = system_clock) -> Ledger:
        if self.database_url is None:
            return ledger_at("sqlite:///:memory:", clock)
        schema = f"t{next(self._numbers)}"
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            connection.execute(f'CREATE SCHEMA "{schema}"')
        return ledger_at(f"{self.database_url}?schema={schema}", clock)

    def shared_url(self, folder: Path) -> str:
        """A store two ledgers can open: a file in `folder` on SQLite, a fresh schema on
        PostgreSQL."""
        return f"sqlite:///{folder / 'l.db'}" if self.database_url is None else self.url()

    def url(self) -> str:
        """A URL of a fresh store (a file-less one for SQLite is not shareable)."""
        if self.database_url is None:
            raise ValueError("use a file for SQLite")
        schema = f"u{next(self._numbers)}"
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            connection.execute(f'CREATE SCHEMA "{schema}"')
        return f"{self.database_url}?schema={schema}"


BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def ledgers(request: pytest.FixtureRequest) -> Ledgers:
    if request.param == "sqlite":
        return Ledgers("sqlite")
    url: str = request.getfixturevalue("postgres_url")
    return Ledgers("postgres", url)
