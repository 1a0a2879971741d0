"""Operating the read models: rebuild (new tables while the old ones serve, then an atomic
switch), replay up to a time into a separate store for auditors, and verify (the hash chain
against the stored events, and the live tables against a fresh replay)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from ledger import limits
from ledger.application import Ledger
from ledger.config import Settings
from ledger.store_identity import mark_read_only
from projections.models import GENESIS_LINK, chain, event_hash
from projections.parts import ALL_UNITS, WHOLE, Part
from projections.runner import LIVE, Runner, live_names
from projections.schema import PROJECTIONS, REBUILD_SUFFIX, Names, drop_tables, tables_of

VERIFY_SUFFIX = "__verify"
# Columns that identify a row when reporting the first difference.
_KEYS = {
    "postings": "notification_id, person_key, line",
    "accounts": "person_key",
    "account_history": "person_key, notification_id",
    "closed_years": "year",
    "running_balances": "person_key, effective_on, notification_id",
    "accruals": "person_key, year, notification_id",
    "audit_chain": "notification_id",
    "person_chain": "originator_id",
    "statistics": "year, account, unit, measure",
}


def is_postgres(ledger: Ledger) -> bool:
    return ledger.settings.database_url.startswith(("postgresql://", "postgres://"))


# Rebuild.


def rebuild(ledger: Ledger, projections: Iterable[str], progress: Any = None,
            part: Part = WHOLE) -> int:
    """Rebuild the named read models into `__next` tables from the whole log, then switch them
    in atomically; resumable (the rebuild keeps its own positions). Events projected. With a
    `part`, only that key range is rebuilt and nothing is switched: run the parts
    concurrently, then once without a part, which projects what is left and switches."""
    chosen = sorted(set(projections) or PROJECTIONS)
    live = Runner(ledger, live_names(ledger))
    live.create()
    names = Names(live.names.schema, REBUILD_SUFFIX)
    runner = Runner(ledger, names, position_name=f"rebuild:{','.join(chosen)}",
                    projections=chosen, part=part)
    runner.create()
    projected = runner.catch_up(progress)
    if not part.whole:
        return projected
    with runner.datastore().transaction(commit=True) as curs:
        projected += _switch(curs, runner, live, chosen)
    return projected


def _switch(curs: Cursor[DictRow], runner: Runner, live: Runner, chosen: list[str]) -> int:
    """Under the live positions' lock: bring both sets to the same positions (the live one
    may lag behind the rebuild), then swap the tables and drop the rebuild's positions (the
    live ones now describe the new tables too)."""
    live_at = live.positions.read(curs, ALL_UNITS, lock=True)
    rebuilt_at = runner.positions.read(curs, ALL_UNITS, lock=True)
    target = {unit: max(live_at[unit], rebuilt_at[unit]) for unit in ALL_UNITS}
    while live.page(curs, stop_at=target) > 0:
        pass
    projected = 0
    while (count := runner.page(curs, stop_at=target)) > 0:
        projected += count
    for projection in chosen:
        for base in tables_of(projection):
            curs.execute(SQL("DROP TABLE IF EXISTS {} CASCADE").format(live.names.table(base)))
            curs.execute(SQL("ALTER TABLE {} RENAME TO {}").format(
                runner.names.table(base), Identifier(live.names.bare(base))))
    runner.drop_positions(curs)
    return projected


# Replay.


class ReplayTargetExists(RuntimeError):
    """The replay's folder or schema is already there: the message says which."""


@dataclass(frozen=True, slots=True)
class ReplayResult:
    database_url: str
    events: int
    outcomes: int


def replay(ledger: Ledger, until: dt.datetime, out: str) -> ReplayResult:
    """Copy the events and outcomes recorded up to `until` into a separate store (an SQLite
    file in the new folder `out`, or the new PostgreSQL schema `out`) and, on PostgreSQL,
    project them there: auditors query it with the same commands (CPA_DATABASE_URL=the printed
    URL). The replay is read-only: the ledger refuses to record anything in it."""
    url = _replay_url(ledger, out)
    target = Ledger(Settings.from_environment({**_settings_environment(ledger.settings),
                                               "CPA_DATABASE_URL": url}), ledger.parameters)
    try:
        events = _copy_events(ledger, target, until)
        outcomes = _copy_outcomes(ledger, target, until)
        if is_postgres(target):
            runner = Runner(target, live_names(target))
            runner.create()
            runner.catch_up()
        mark_read_only(target.app.recorder.datastore,  # type: ignore[attr-defined]
                       f"this store is a replay as known at {until.isoformat()}: read-only;"
                       " record messages in the store it was replayed from")
    finally:
        target.close()
    return ReplayResult(url, events, outcomes)


def _replay_url(ledger: Ledger, out: str) -> str:
    if not is_postgres(ledger):
        folder = Path(out)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ReplayTargetExists(f"{out} exists and is not an empty folder: replay into a"
                                     " new one (--out)")
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'cpa-ledger.db'}"
    schema = out.replace("-", "_")
    datastore = ledger.app.recorder.datastore  # type: ignore[attr-defined]
    try:
        with datastore.transaction(commit=True) as curs:
            curs.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
    except psycopg.errors.DuplicateSchema as error:
        raise ReplayTargetExists(f"schema {schema} exists: replay into a new one (--out)") \
            from error
    base = ledger.settings.database_url.split("?", 1)[0]
    return f"{base}?schema={schema}"


def _settings_environment(settings: Settings) -> dict[str, str]:
    return {"CPA_PERSON_KEY_SECRET": settings.person_key_secret.decode(),
            "CPA_ENV": settings.environment}


def _pages(ledger: Ledger, stop: int | None = None) -> Iterator[list[Any]]:
    """The event log in order, page by page (bounded memory)."""
    start = 1
    while True:
        page = list(ledger.app.recorder.select_notifications(
            start=start, limit=limits.NOTIFICATION_PAGE_EVENTS_MAX, stop=stop))
        if not page:
            return
        yield page
        start = page[-1].id + 1


def _notifications(ledger: Ledger, stop: int | None = None) -> Iterator[Any]:
    for page in _pages(ledger, stop):
        yield from page


def _copy_events(source: Ledger, target: Ledger, until: dt.datetime) -> int:
    copied, page = 0, []
    for notification in _notifications(source):
        event = source.app.mapper.to_domain_event(notification)
        if getattr(event, "timestamp") > until:  # noqa: B009 (protocol lacks it)
            continue
        page.append(notification)
        if len(page) >= limits.NOTIFICATION_PAGE_EVENTS_MAX:
            target.app.recorder.insert_events(page)
            copied, page = copied + len(page), []
    if page:
        target.app.recorder.insert_events(page)
    return copied + len(page)


def _copy_outcomes(source: Ledger, target: Ledger, until: dt.datetime) -> int:
    from ledger.storage import BatchRecords

    copied, after = 0, ("", "")
    while True:
        page = source.app.ledger_recorder.select_receipts_page(
            after, limits.INGEST_BATCH_MESSAGES_MAX)
        if not page:
            return copied
        chunk = [r for r in page if dt.datetime.fromisoformat(r.recorded_at) <= until]
        target.app.recorder.insert_events([], records=BatchRecords(receipts=chunk))
        copied += len(chunk)
        after = (page[-1].source, page[-1].message_id)


# Verify.


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    checked_events: int
    head_link: str
    difference: str | None = None

    def as_document(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked_events": self.checked_events,
                "head_link": self.head_link, "first_difference": self.difference}


def verify(ledger: Ledger) -> Verdict:
    """PostgreSQL: recompute the hash chain from the stored events and compare it with the
    audit chain; then project a fresh replay up to the live position and compare every table.
    The embedded default: see `verify_events`."""
    if not is_postgres(ledger):
        return verify_events(ledger)
    live = Runner(ledger, live_names(ledger))
    live.create()
    position = live.position()
    checked, link, difference = _check_chain(ledger, live.names, position)
    if difference is None:
        difference = _compare_with_replay(ledger, live, position)
    return Verdict(difference is None, checked, link, difference)


def verify_events(ledger: Ledger) -> Verdict:
    """The embedded default keeps no tables: its documents are computed from the events on
    every read, so they equal a replay by construction. What can differ is the events: each
    stored event must decode, and the chain is recomputed over the whole log (its head is what
    an auditor compares with a copy)."""
    link, checked = GENESIS_LINK, 0
    for page in _pages(ledger):
        for notification in page:
            try:
                ledger.app.mapper.to_domain_event(notification)
            except Exception as error:  # any decoding failure is the finding, not a crash
                return Verdict(False, checked, link, (
                    f"event {notification.id} (aggregate {notification.originator_id} version"
                    f" {notification.originator_version}): stored bytes do not decode"
                    f" ({type(error).__name__})"))
            link = chain(link, event_hash(notification.topic, notification.state))
            checked += 1
    return Verdict(True, checked, link)


def _check_chain(ledger: Ledger, names: Names, position: int) -> tuple[int, str, str | None]:
    link, checked = GENESIS_LINK, 0
    datastore = ledger.app.recorder.datastore  # type: ignore[attr-defined]
    for page in _pages(ledger, stop=position):
        with datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT notification_id, event_hash, link FROM {} WHERE"
                             " notification_id BETWEEN %s AND %s")
                         .format(names.table("audit_chain")), (page[0].id, page[-1].id))
            recorded = {row["notification_id"]: row for row in curs.fetchall()}
        for notification in page:
            digest = event_hash(notification.topic, notification.state)
            link = chain(link, digest)
            checked += 1
            row = recorded.get(notification.id)
            if row is None or row["event_hash"] != digest or row["link"] != link:
                return checked, link, (
                    f"event {notification.id} (aggregate {notification.originator_id} version"
                    f" {notification.originator_version}): stored bytes do not match the"
                    " audit chain")
    return checked, link, None


def _compare_with_replay(ledger: Ledger, live: Runner, position: int) -> str | None:
    names = Names(live.names.schema, VERIFY_SUFFIX)
    fresh = Runner(ledger, names, position_name="verify")
    with fresh.datastore().transaction(commit=True) as curs:
        for projection in PROJECTIONS:
            drop_tables(curs, names, projection)
        fresh.drop_positions(curs)
    fresh.create()
    fresh.catch_up(stop_at=position)
    try:
        with fresh.datastore().transaction(commit=False) as curs:
            return _first_table_difference(curs, live.names, names)
    finally:
        with fresh.datastore().transaction(commit=True) as curs:
            for projection in PROJECTIONS:
                drop_tables(curs, names, projection)


def _first_table_difference(curs: Cursor[DictRow], live: Names, fresh: Names) -> str | None:
    for projection, tables in PROJECTIONS.items():
        for base in tables:
            for left, right, side in ((live, fresh, "live"), (fresh, live, "replay")):
                curs.execute(SQL("SELECT {keys} FROM (SELECT * FROM {a} EXCEPT SELECT * FROM {b})"
                                 " AS d ORDER BY {keys} LIMIT 1").format(
                    keys=SQL(_KEYS[base]), a=left.table(base), b=right.table(base)))
                row = curs.fetchone()
                if row is not None:
                    key = ", ".join(f"{k}={v}" for k, v in row.items())
                    return f"{projection}: table {base} differs ({side} only): {key}"
    return None


__all__ = ["LIVE", "ReplayResult", "ReplayTargetExists", "Verdict", "is_postgres", "rebuild",
           "replay", "verify", "verify_events"]
