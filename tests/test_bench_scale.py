"""The scale benchmark's own logic (tests/bench/scale): how it cuts the feed into timed batches,
what it reads from a year close's outcome, and how it judges "constant cost per message"."""

from __future__ import annotations

import itertools
from typing import Any

from ledger import limits
from ledger.application import YEAR_CLOSE_TYPE
from ledger.batch import Result
from ledger.demo import DemoSettings, generate
from ledger.outcomes import MessageOutcome
from tests.bench.bench_postgres import Machine, Rate
from tests.bench.scale.report import Report, render
from tests.bench.scale.stages import Ingest, Segment, runs

FEED_PERSONS = 60


def test_runs_cut_the_feed_in_order_by_year_with_each_close_alone() -> None:
    feed = list(generate(DemoSettings(persons=FEED_PERSONS, seed=2)))
    cut = list(runs(feed))
    assert list(itertools.chain.from_iterable(messages for _, messages, _ in cut)) == feed
    for year, messages, close in cut:
        assert messages
        assert close == (messages[0]["type"] == YEAR_CLOSE_TYPE)
        if close:
            assert len(messages) == 1
        else:
            assert all(int(m["published_at"][:4]) == year for m in messages)
            assert all(m["type"] != YEAR_CLOSE_TYPE for m in messages)
    assert sum(close for _, _, close in cut) == len({m["data"]["year"] for m in feed
                                                     if m["type"] == YEAR_CLOSE_TYPE}) > 0


def test_runs_never_exceed_the_ingest_batch() -> None:
    size = limits.INGEST_BATCH_MESSAGES_MAX
    messages = [{"type": "employment.declared", "published_at": "2020-01-06T10:00:00+01:00",
                 "n": n} for n in range(2 * size + 1)]
    assert [len(batch) for _, batch, _ in runs(messages)] == [size, size, 1]


def test_a_close_counts_the_persons_its_outcome_says_it_settled() -> None:
    figures = Ingest()
    close: dict[str, Any] = {"type": YEAR_CLOSE_TYPE, "data": {"year": 2019}}
    detail = "year 2019 closed on 2020-04-15: 1234 persons settled"
    accepted = MessageOutcome.ACCEPTED
    figures.add(2020, [close], [Result(accepted, None, detail, "operator", "c")], 0.5,
                close=True)
    figures.add(2020, [{"person": "p"}] * 3, [Result(accepted, None, "", "s", "m")] * 3, 1.0,
                close=False)
    assert [(c.year, c.persons, c.seconds) for c in figures.closes] == [(2019, 1234, 0.5)]
    assert figures.segments == {2020: Segment(2020, 3, 1.0)}
    assert figures.outcomes["accepted"] == 4


def _report(early_seconds: float, late_seconds: float) -> Report:
    report = Report(10, 1, Machine(2, "3.11", "15", "linux"), "0 0 0")
    report.ingest.rate = Rate("project", 4_000, 8_000, early_seconds * 2 + late_seconds * 2)
    report.ingest.segments = {year: Segment(year, 1_000, seconds) for year, seconds in
                              ((2016, early_seconds), (2017, early_seconds), (2026, 1.0),
                               (2027, late_seconds), (2028, late_seconds))}
    return report


def test_late_years_twice_slower_are_not_constant() -> None:
    report = _report(early_seconds=1.0, late_seconds=2.0)
    assert report.ratios()["late_over_early_messages"] == 0.5
    assert "constant (within 1.5x): no" in render(report)


def test_late_years_slightly_slower_are_constant() -> None:
    report = _report(early_seconds=1.0, late_seconds=1.4)
    assert "constant (within 1.5x): yes" in render(report)


def test_the_history_ratio_compares_the_years_of_loaded_persons_only() -> None:
    report = _report(early_seconds=1.0, late_seconds=2.0)
    # 2016 found everyone in the cache (their first year); the others loaded most persons.
    loads = {2016: (100, 0), 2017: (10, 90), 2026: (10, 90), 2027: (10, 90), 2028: (10, 90)}
    report.ingest.segments = {year: Segment(year, segment.messages, segment.seconds,
                                            *loads[year])
                              for year, segment in report.ingest.segments.items()}
    # First loaded years 2017 (1 s) and 2026 (1 s), last 2027 and 2028 (2 s each).
    assert report.ratios()["late_over_early_loaded_messages"] == 0.5
    assert "flat in the history's length (within 1.5x): no" in render(report)
    report.ingest.store_bytes = {"events": 3 * 1024 * 1024, "snapshots": 1024 * 1024}
    assert "store after the feed: 4 MiB, 524 bytes an event (events 3 MiB, snapshots 1 MiB)" \
        in render(report)
