"""What a store says about itself: the check value of the person-key secret it was written with,
and whether it is read-only (a replay for auditors).

Every person is stored under HMAC(CPA_PERSON_KEY_SECRET, identifier): opened with another secret,
a store would find nobody and answer zeros for everyone. So the store keeps a check value,
HMAC(secret, CHECK_LABEL), written when it is first opened, and refuses any secret whose check
value differs. A store created before check values existed takes the one of its next opening.

One small table (`cpa_store_identity`: name, value), created on first use, on SQLite and in the
store's schema on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from ledger.config import ConfigurationError

TABLE = "cpa_store_identity"
CHECK_LABEL = b"cpa-ledger person-key check v1"
SECRET_CHECK = "person_key_secret_check"
READ_ONLY = "read_only"


class SecretMismatch(ConfigurationError):
    """CPA_PERSON_KEY_SECRET is not the secret the store was written with."""


class ReadOnlyStore(RuntimeError):
    """A write to a read-only store (a replay): the message says why."""

    reason = "read_only_store"


@dataclass(frozen=True, slots=True)
class StoreIdentity:
    read_only: str | None  # why the store refuses writes, or None

    def refuse_writes(self) -> None:
        if self.read_only is not None:
            raise ReadOnlyStore(self.read_only)


def check_value(secret: bytes) -> str:
    return hmac.new(secret, CHECK_LABEL, hashlib.sha256).hexdigest()


def open_identity(datastore: Any, secret: bytes) -> StoreIdentity:
    """Records the secret's check value when the store has none; raises SecretMismatch when
    it has another; returns what the store says about itself."""
    table = _Table(datastore)
    values = table.adopt(SECRET_CHECK, check_value(secret))
    if not hmac.compare_digest(values[SECRET_CHECK], check_value(secret)):
        raise SecretMismatch(
            "CPA_PERSON_KEY_SECRET is not the secret this store was written with (its check "
            "value differs): every person would read as unknown; set the store's secret")
    return StoreIdentity(read_only=values.get(READ_ONLY))


def mark_read_only(datastore: Any, reason: str) -> None:
    """From now on, the ledger refuses writes to this store, with `reason`."""
    _Table(datastore).put(READ_ONLY, reason)


class _Table:
    """The identity table on either backend (eventsourcing's SQLite or PostgreSQL datastore)."""

    def __init__(self, datastore: Any) -> None:
        self.datastore = datastore
        self.postgres = hasattr(datastore, "schema")
        if self.postgres:
            from psycopg.sql import SQL, Identifier

            self.name: Any = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(TABLE))
        else:
            self.name = TABLE

    def _sql(self, text: str) -> Any:
        if not self.postgres:
            return text.replace("{table}", TABLE).replace("%s", "?")
        from psycopg.sql import SQL

        return SQL(text.replace("{table}", "{}")).format(self.name)

    def _create(self, curs: Any) -> None:
        if self.postgres:
            # Processes starting together: CREATE TABLE IF NOT EXISTS can race in PostgreSQL.
            curs.execute("SELECT pg_advisory_xact_lock(hashtext('cpa-ledger-store-identity'))")
        curs.execute(self._sql("CREATE TABLE IF NOT EXISTS {table}"
                               " (name text PRIMARY KEY, value text NOT NULL)"))

    def adopt(self, name: str, value: str) -> dict[str, str]:
        """Sets `name` unless it is set; all the values, as stored."""
        with self.datastore.transaction(commit=True) as curs:
            self._create(curs)
            curs.execute(self._sql("INSERT INTO {table} (name, value) VALUES (%s, %s)"
                                   " ON CONFLICT (name) DO NOTHING"), (name, value))
            curs.execute(self._sql("SELECT name, value FROM {table}"))
            rows = curs.fetchall()
        return {str(_field(row, 0, "name")): str(_field(row, 1, "value")) for row in rows}

    def put(self, name: str, value: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._create(curs)
            curs.execute(self._sql("INSERT INTO {table} (name, value) VALUES (%s, %s)"
                                   " ON CONFLICT (name) DO UPDATE SET value = excluded.value"),
                         (name, value))


def _field(row: Any, index: int, name: str) -> Any:
    return row[name] if isinstance(row, dict) else row[index]
