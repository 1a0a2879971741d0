"""What a person's snapshot costs against what replaying an event costs, to choose
`ledger.limits.SNAPSHOT_INTERVAL_EVENTS`.

    python -m tests.bench.snapshots [--persons 300]

Ingests a demo feed on the embedded default, then for the persons with the longest histories
measures: decoding and applying one stored event, taking and encoding a snapshot, decoding and
loading a snapshot. With k the interval, a load replays k/2 events on average after decoding a
snapshot and each event writes 1/k of a snapshot; the script prints the cost per event of a
few intervals (all loads missing the cache, the France-scale case) and the best of them.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

import schemas
from ledger.application import Ledger
from ledger.config import Settings
from ledger.demo import DemoSettings, generate
from ledger.domain import PersonAccount, PersonSnapshot

LONGEST_PERSONS = 50
REPEATS = 5
INTERVALS = (5, 10, 20, 50)


def _ledger(folder: Path, persons: int) -> Ledger:
    ledger = Ledger(Settings.from_environment({"CPA_DATABASE_URL":
                                               f"sqlite:///{folder / 'bench.db'}"}))
    items = [schemas.parse(orjson.dumps(m))
             for m in generate(DemoSettings(persons=persons, seed=3))]
    for start in range(0, len(items), 2_000):
        ledger.ingest(items[start:start + 2_000])
    return ledger


def _seconds(action: Callable[[], Any], repeats: int = REPEATS) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        action()
    return (time.perf_counter() - started) / repeats


def _costs(ledger: Ledger, account: PersonAccount) -> tuple[float, float, float, int, float]:
    """(event decode+apply, snapshot take+encode, snapshot decode+load) in seconds; snapshot
    bytes; mean event bytes."""
    app = ledger.app
    stored = list(app.recorder.select_events(account.id))

    def replay() -> None:
        aggregate: Any = None
        for event in stored:
            aggregate = app.mapper.to_domain_event(event).mutate(aggregate)  # type: ignore[attr-defined]

    snapshot = app.mapper.to_stored_event(PersonSnapshot.take(account))
    return (_seconds(replay, 1) / len(stored),
            _seconds(lambda: app.mapper.to_stored_event(PersonSnapshot.take(account))),
            _seconds(lambda: app.mapper.to_domain_event(snapshot).mutate(None)),  # type: ignore[attr-defined]
            len(snapshot.state), statistics.mean(len(event.state) for event in stored))


def _longest(ledger: Ledger) -> list[PersonAccount]:
    """The persons with the most events (their snapshots are the largest)."""
    versions: dict[Any, int] = {}
    start = 1
    while page := ledger.app.recorder.select_notifications(start=start, limit=10_000):
        for notification in page:
            versions[notification.originator_id] = notification.originator_version
        start = page[-1].id + 1
    longest = sorted(versions, key=versions.__getitem__)[-LONGEST_PERSONS:]
    accounts: list[Any] = [ledger.app.repository.get(originator) for originator in longest]
    return [account for account in accounts if isinstance(account, PersonAccount)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=300)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        ledger = _ledger(Path(folder), arguments.persons)
        rows = [_costs(ledger, account) for account in _longest(ledger)]
        ledger.close()
    event, take, load = (statistics.median(row[i] for row in rows) for i in range(3))
    print(f"{len(rows)} longest histories, snapshot {statistics.median(r[3] for r in rows):,.0f}"
          f" bytes: event decode+apply {event * 1e6:,.0f} us, snapshot take+encode"
          f" {take * 1e6:,.0f} us, snapshot decode+load {load * 1e6:,.0f} us")
    costs = {k: load + event * k / 2 + take / k for k in INTERVALS}
    snapshot_bytes = statistics.median(r[3] for r in rows)
    event_bytes = statistics.median(r[4] for r in rows)
    for k, cost in costs.items():
        print(f"interval {k:>3}: {cost * 1e6:,.0f} us per event (load missing the cache),"
              f" snapshot bytes per event byte {snapshot_bytes / k / event_bytes:.1f}")
    print(f"best of these: {min(costs, key=costs.__getitem__)}")


if __name__ == "__main__":
    main()
