"""The read models' tables in PostgreSQL. Every table name goes through `Names`, so that a
rebuild can write a complete new set (`postings__next`, ...) while the live one serves."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier, Literal

REBUILD_SUFFIX = "__next"

# Read model name -> its tables. `balances` and `postings` are one projection: the postings
# (with effective date, recording time and derived lines) and the account documents.
PROJECTIONS: dict[str, tuple[str, ...]] = {
    "balances": ("postings", "accounts", "account_history", "closed_years", "running_balances"),
    "accruals": ("accruals",),
    "audit_chain": ("audit_chain", "person_chain"),
    "statistics": ("statistics",),
}

# Caches kept beside a read model: created, rebuilt and switched with it, but not compared by
# `verify` (their rows depend on which reads were served, or on which persons the projector let
# go from memory, not only on the events).
CACHES: dict[str, tuple[str, ...]] = {
    "balances": ("balance_documents", "person_memos"),
}

_DDL: dict[str, str] = {
    "postings": (
        "CREATE TABLE IF NOT EXISTS {table} ("
        " notification_id bigint NOT NULL, person_key text NOT NULL, line integer NOT NULL,"
        " effective_on date NOT NULL, account text NOT NULL, amount bigint NOT NULL,"
        " unit text NOT NULL, kind text NOT NULL, bucket text, grant_id text, order_id text,"
        " year integer, memo text, source text, message_id text,"
        " recorded_at timestamptz NOT NULL, derived boolean NOT NULL,"
        " superseded_at timestamptz, PRIMARY KEY (notification_id, person_key, line))"
    ),
    "accounts": (
        "CREATE TABLE IF NOT EXISTS {table} (person_key text PRIMARY KEY,"
        " notification_id bigint NOT NULL, recorded_at timestamptz NOT NULL,"
        " document jsonb NOT NULL)"
    ),
    "account_history": (
        "CREATE TABLE IF NOT EXISTS {table} (person_key text NOT NULL,"
        " notification_id bigint NOT NULL, recorded_at timestamptz NOT NULL,"
        " document jsonb NOT NULL, PRIMARY KEY (person_key, notification_id))"
    ),
    # See `projections.running`: one index lookup answers a balance as of a date, as known at
    # a time (the primary key's order is the lookup's).
    "running_balances": (
        "CREATE TABLE IF NOT EXISTS {table} (person_key text NOT NULL, effective_on date NOT NULL,"
        " notification_id bigint NOT NULL, recorded_at timestamptz NOT NULL, totals jsonb NOT NULL,"
        " PRIMARY KEY (person_key, effective_on, notification_id))"
    ),
    "closed_years": (
        "CREATE TABLE IF NOT EXISTS {table} (year integer PRIMARY KEY, credited_on date NOT NULL,"
        " notification_id bigint NOT NULL, recorded_at timestamptz NOT NULL)"
    ),
    "accruals": (
        "CREATE TABLE IF NOT EXISTS {table} (person_key text NOT NULL,"
        " notification_id bigint NOT NULL, year integer NOT NULL,"
        " recorded_at timestamptz NOT NULL, explanation jsonb NOT NULL,"
        " PRIMARY KEY (person_key, year, notification_id))"
    ),
    "audit_chain": (
        "CREATE TABLE IF NOT EXISTS {table} (notification_id bigint PRIMARY KEY,"
        " originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text NOT NULL,"
        " event_hash text NOT NULL, link text NOT NULL, person_link text NOT NULL)"
    ),
    "person_chain": (
        "CREATE TABLE IF NOT EXISTS {table} (originator_id uuid PRIMARY KEY,"
        " originator_version bigint NOT NULL, link text NOT NULL)"
    ),
    "balance_documents": (
        "CREATE TABLE IF NOT EXISTS {table} (person_key text PRIMARY KEY,"
        " version bigint NOT NULL, as_of date, body bytea)"
    ),
    # See `projections.memo`: what projecting a person's next event needs, stored when the
    # projector lets the person go from memory.
    "person_memos": (
        "CREATE TABLE IF NOT EXISTS {table} (originator_id uuid PRIMARY KEY,"
        " version bigint NOT NULL, memo bytea NOT NULL)"
    ),
    "statistics": (
        "CREATE TABLE IF NOT EXISTS {table} (year integer NOT NULL, account text NOT NULL,"
        " unit text NOT NULL, measure text NOT NULL, amount bigint NOT NULL,"
        " PRIMARY KEY (year, account, unit, measure))"
    ),
}

# Created with the table, unnamed: PostgreSQL names them, so a rebuilt set never collides
# with the names of the set it replaces.
_INDEXES: dict[str, tuple[str, ...]] = {
    "postings": ("CREATE INDEX ON {table} (person_key, effective_on)",),
    "audit_chain": ("CREATE INDEX ON {table} (originator_id, originator_version)",),
}

POSITIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} (projection text PRIMARY KEY,"
    " position bigint NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class Names:
    """Qualified table names of one set of read-model tables."""

    schema: str
    suffix: str = ""

    def table(self, base: str) -> Composed:
        return SQL("{}.{}").format(Identifier(self.schema), Identifier(base + self.suffix))

    def bare(self, base: str) -> str:
        return base + self.suffix

    def positions(self) -> Composed:
        return SQL("{}.{}").format(Identifier(self.schema), Identifier("projection_positions"))


def tables_of(projection: str) -> tuple[str, ...]:
    """A read model's tables and its caches."""
    return PROJECTIONS[projection] + CACHES.get(projection, ())


# The comment on a table created with its whole read model: it holds rows from the first event
# on. A table added to an existing read model (a store made by an older version) has no rows
# for the events projected before it and stays without this comment until `cpa-ledger rebuild`
# replaces the set (a rename keeps comments); readers that depend on it check (`is_complete`).
COMPLETE_COMMENT = "complete: projected from the first event"


def create_tables(curs: Cursor[DictRow], names: Names, projection: str) -> None:
    fresh = not any(_exists(curs, names, base) for base in tables_of(projection))
    for base in tables_of(projection):
        if _exists(curs, names, base):
            continue
        curs.execute(SQL(_DDL[base]).format(table=names.table(base)))
        for statement in _INDEXES.get(base, ()):
            curs.execute(SQL(statement).format(table=names.table(base)))
        if fresh:
            curs.execute(SQL("COMMENT ON TABLE {} IS {}").format(
                names.table(base), Literal(COMPLETE_COMMENT)))


IS_COMPLETE = ("SELECT coalesce(obj_description(to_regclass(%s), 'pg_class') = %s, false)"
               " AS complete")


def is_complete_parameters(names: Names, base: str) -> tuple[str, str]:
    """`IS_COMPLETE`'s parameters: whether that table holds rows from the first event on."""
    return f'"{names.schema}"."{names.bare(base)}"', COMPLETE_COMMENT


def _exists(curs: Cursor[DictRow], names: Names, base: str) -> bool:
    curs.execute("SELECT to_regclass(%s) IS NOT NULL AS present",
                 (f'"{names.schema}"."{names.bare(base)}"',))
    row = curs.fetchone()
    return bool(row and row["present"])


def create_positions(curs: Cursor[DictRow], names: Names) -> None:
    curs.execute(SQL(POSITIONS_DDL).format(table=names.positions()))


def drop_tables(curs: Cursor[DictRow], names: Names, projection: str) -> None:
    for base in tables_of(projection):
        curs.execute(SQL("DROP TABLE IF EXISTS {} CASCADE").format(names.table(base)))
