"""The application's guarantees: snapshots, optimistic concurrency between writers, year closing
in pages, and crash safety of a close (a real process killed with SIGKILL)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson

from ledger import limits
from ledger.application import load_accounts
from ledger.identity import aggregate_id, with_key
from ledger.state import PersonState, evolve, stamped
from projections.reader import Reader
from tests.backends import Ledgers
from tests.support import Feed, identifier, ingest, ledger_at

CRASH_WAIT_SECONDS = 120


def test_snapshot_loads_the_same_state_as_a_full_replay(ledgers: Ledgers, tmp_path: Path) -> None:
    url = ledgers.shared_url(tmp_path)
    ledger = ledger_at(url)
    feed = Feed()
    messages = [feed.employment(2019, f"{hours}") for hours in range(1, 130)]
    ingest(ledger, messages)
    key = ledger.person_key(identifier("A"))
    events = list(ledger.app.events.get(aggregate_id(key)))
    assert len(events) > 2 * limits.SNAPSHOT_INTERVAL_EVENTS
    assert ledger.app.snapshots is not None
    assert list(ledger.app.snapshots.get(aggregate_id(key)))
    replayed = PersonState(person_key=key)
    for event in events:
        if hasattr(event, "changes"):
            stamp = getattr(event, "timestamp").isoformat()  # noqa: B009
            evolve(replayed, stamped(event.changes, stamp))
    ledger.close()
    fresh = ledger_at(url)
    view = Reader(fresh).view(identifier("A"))
    assert view.state is not None
    assert view.state.to_json() == replayed.to_json()
    loaded = load_accounts(fresh.app, [aggregate_id(key)])  # the batch loader (PostgreSQL)
    if loaded is not None:
        assert [account.state.to_json() for account in loaded] == [replayed.to_json()]
    # A fresh ledger (nothing in memory) goes on from the loaded state.
    ingest(fresh, [feed.employment(2019, "1"), feed.close(2019)])
    document = Reader(fresh).balance(identifier("A"), dt.date(2021, 1, 1))
    assert document["accounts"]["cpf"]["balance"] == "500.00"  # over 1607 h: a full year
    fresh.close()


def test_two_writers_on_one_store_do_not_lose_updates(ledgers: Ledgers, tmp_path: Path) -> None:
    url = ledgers.shared_url(tmp_path)
    first, second = ledger_at(url), ledger_at(url)
    feed = Feed()
    ingest(first, [feed.employment(2019, "100")])  # `first` now caches the account
    ingest(second, [feed.employment(2019, "200")])  # `second` appends behind its back
    ingest(first, [feed.employment(2019, "300"), feed.close(2019)])
    document = Reader(second).balance(identifier("A"), dt.date(2021, 1, 1))
    # 600 h of 1607 -> 186.69 EUR: all three periods were seen.
    assert document["accounts"]["cpf"]["balance"] == "186.69"
    first.close()
    second.close()


def _persons_feed(count: int, feed: Feed) -> list[dict[str, object]]:
    messages: list[dict[str, object]] = []
    for index in range(count):
        person = with_key(f"1840375{index:06d}")
        messages.append(feed.employment(2019, "1607", person=person))
    return messages


def test_a_close_settles_every_person_across_pages(ledgers: Ledgers) -> None:
    ledger = ledgers.new()
    feed = Feed()
    count = limits.YEAR_CLOSE_PERSONS_PER_BATCH + 37
    results = ingest(ledger, [*_persons_feed(count, feed), feed.close(2019)])
    assert results[-1].outcome == "accepted"
    assert f"{count} persons settled" in results[-1].detail
    reader = Reader(ledger)
    for index in (0, count // 2, count - 1):
        person = with_key(f"1840375{index:06d}")
        balance = reader.balance(person, dt.date(2020, 12, 31))
        assert balance["accounts"]["cpf"]["balance"] == "500.00"
    ledger.close()


def _accruals(database: Path) -> list[tuple[str, int]]:
    """Accrual postings per aggregate, read straight from the stored events."""
    connection = sqlite3.connect(database)
    rows = connection.execute("SELECT originator_id, state FROM stored_events").fetchall()
    connection.close()
    counts: dict[str, int] = {}
    for originator, state in rows:
        for change in orjson.loads(state).get("changes", []):
            if change["kind"] == "posted" and change["posting"]["kind"] == "accrual":
                counts[originator] = counts.get(originator, 0) + 1
    return sorted(counts.items())


def _year_marked_closed(database: Path) -> bool:
    if not database.exists():
        return False
    try:
        connection = sqlite3.connect(database, timeout=1)
        rows = connection.execute(
            "SELECT count(*) FROM stored_events WHERE topic LIKE '%YearClosed'"
        ).fetchone()
        connection.close()
    except sqlite3.OperationalError:
        return False
    return bool(rows[0])


def test_a_close_killed_midway_resumes_and_credits_each_person_once(tmp_path: Path) -> None:
    database = tmp_path / "crash.db"
    feed = Feed()
    count = 5 * limits.YEAR_CLOSE_PERSONS_PER_BATCH
    lines = [orjson.dumps(m) for m in [*_persons_feed(count, feed), feed.close(2019)]]
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    environment = {**os.environ, "CPA_DATABASE_URL": f"sqlite:///{database}"}
    command = [sys.executable, "-m", "ledger.cli", "ingest", str(path), "--json"]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE)
    deadline = time.monotonic() + CRASH_WAIT_SECONDS
    while not _year_marked_closed(database) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _year_marked_closed(database), "the close never started"
    assert len(_accruals(database)) < count, "the kill landed after the sweep: nothing to test"
    rerun = subprocess.run(command, env=environment, capture_output=True, check=True)
    summary = orjson.loads(rerun.stdout)
    assert summary["rejected"] == 0
    accruals = _accruals(database)
    assert len(accruals) == count
    assert {n for _, n in accruals} == {1}
