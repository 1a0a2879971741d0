"""The running balances (`projections.running`) answer what the postings say: for any person,
any `as_of` and any `known_at`, the one-row lookup equals the sum over the visible postings,
and the balance document equals the in-process fold over the events. Each store (demo careers;
the rulebook's merges, withdrawal and expiry) is fed in batches at distinct times and projected
after each by a new runner (so that every person's timeline is rebuilt from its state, as after
a restart), then verified against a fresh replay (so that a restarted projector writes the rows
an uninterrupted one writes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.sql import SQL

from ledger.application import Ledger
from ledger.demo import DemoSettings, generate
from projections.operations import rebuild, verify
from projections.reader import Reader
from projections.runner import Runner, live_names
from projections.running import DISTINCT_KINDS, OTHER_KIND
from projections.tables import TableReader
from tests.backends import Ledgers
from tests.support import Feed, ManualClock, validated

pytestmark = pytest.mark.postgres

PERSONS = 25
BATCH_MESSAGES = 60
BATCH_SECONDS = 3_600
EXAMPLES = 40
CASES = Path(__file__).parent / "cases"
# Merges (with a later message about the absorbed identifier), a withdrawal, an expiry.
CASE_NAMES = ("rules_9_merge_nia_then_nir", "rules_10_merge_and_death_carry_cpf_public",
              "rules_5_topup_withdrawal", "rules_7_refund_expired_topup_not_revived",
              "rules_5_topup_expiry_refundable")
FIRST_DAY = dt.date(2014, 6, 1)
LAST_DAY = dt.date(2031, 1, 1)


class Fed:
    """A store fed in batches: its persons and the instants between batches."""

    def __init__(self, ledger: Ledger, persons: list[str], start: dt.datetime,
                 end: dt.datetime) -> None:
        self.ledger = ledger
        self.persons = persons
        self.start = start
        self.end = end


def _demo_batches() -> list[list[dict[str, Any]]]:
    messages = list(generate(DemoSettings(persons=PERSONS, seed=11)))
    return [messages[first:first + BATCH_MESSAGES]
            for first in range(0, len(messages), BATCH_MESSAGES)]


def _case_batches(name: str) -> list[list[dict[str, Any]]]:
    """A rulebook case's messages, one batch per ingest step (expected rejections included)."""
    case = orjson.loads((CASES / f"{name}.json").read_bytes())
    feed = Feed(prefix="r")
    return [[_case_message(feed, spec) for spec in step["ingest"]]
            for step in case["steps"] if "ingest" in step]


def _case_message(feed: Feed, spec: dict[str, Any]) -> dict[str, Any]:
    if spec["type"] == "accrual.year.closed":
        return feed.close(spec["data"]["year"], spec["data"]["credited_on"])
    return feed.message(spec["type"], spec["data"], person=spec.get("person", "A"),
                        published=spec.get("published", "2020-01-15"),
                        source=spec.get("source"), message_id=spec.get("id"),
                        supersedes=spec.get("supersedes"))


@pytest.fixture(scope="module", params=["demo", *CASE_NAMES])
def fed(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[Fed]:
    batches = _demo_batches() if request.param == "demo" else _case_batches(request.param)
    clock = ManualClock()
    ledger = Ledgers("postgres", postgres_url).new(clock)
    start = clock.instant
    for batch in batches:
        ledger.ingest(validated(batch))
        runner = Runner(ledger, live_names(ledger))  # a new tracker: timelines from states
        runner.create()
        runner.catch_up()
        clock.advance(BATCH_SECONDS)
    persons = sorted({str(m["person"]) for batch in batches for m in batch if "person" in m})
    try:
        yield Fed(ledger, persons, start - dt.timedelta(seconds=BATCH_SECONDS), clock.instant)
    finally:
        ledger.close()


def _grouped(rows: list[Any]) -> dict[tuple[Any, ...], int]:
    """Totals by the columns the balance document reads, zero totals left out."""
    sums: dict[tuple[Any, ...], int] = {}
    for row in rows:
        kind = row["kind"] if row["kind"] in DISTINCT_KINDS else OTHER_KIND
        group = (row["account"], row["unit"], row["bucket"], row["grant_id"], kind,
                 row["derived"])
        sums[group] = sums.get(group, 0) + int(row["amount"])
    return {group: amount for group, amount in sums.items() if amount}


@st.composite
def questions(draw: st.DrawFn, fed: Fed) -> tuple[str, dt.date, dt.datetime | None]:
    person = draw(st.sampled_from(fed.persons))
    as_of = FIRST_DAY + dt.timedelta(days=draw(st.integers(0, (LAST_DAY - FIRST_DAY).days)))
    span = int((fed.end - fed.start).total_seconds())
    known_at = draw(st.none() | st.integers(0, span).map(
        lambda seconds: fed.start + dt.timedelta(seconds=seconds)))
    return person, as_of, known_at


def test_the_lookup_equals_the_sum_and_the_fold(fed: Fed) -> None:
    tables, events = TableReader(fed.ledger), Reader(fed.ledger)

    @settings(max_examples=EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(questions(fed))
    def check(question: tuple[str, dt.date, dt.datetime | None]) -> None:
        person, as_of, known_at = question
        _, key, _ = tables.resolve(person, known_at)
        assert _grouped(tables._totals(key, as_of, known_at)) == \
            _grouped(tables._totals_from_postings(key, as_of, known_at))
        assert tables.balance(person, as_of, known_at) == \
            events.balance(person, as_of, known_at)

    check()


def test_a_restarted_projector_writes_what_a_fresh_replay_writes(fed: Fed) -> None:
    verdict = verify(fed.ledger)
    assert verdict.ok, verdict.difference


def test_a_store_older_than_the_running_totals_sums_the_postings_until_rebuilt(
        postgres_url: str) -> None:
    ledger = Ledgers("postgres", postgres_url).new()
    try:
        batches = _demo_batches()
        ledger.ingest(validated(batches[0]))
        runner = Runner(ledger, live_names(ledger))
        runner.create()
        runner.catch_up()
        datastore: Any = ledger.app.recorder.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=True) as curs:  # as a store made before them
            curs.execute(SQL("DROP TABLE {}").format(runner.names.table("running_balances")))
        ledger.ingest(validated(batches[1]))
        runner = Runner(ledger, live_names(ledger))
        runner.create()
        runner.catch_up()
        persons = sorted({str(m["person"]) for m in batches[0] + batches[1] if "person" in m})
        assert not TableReader(ledger).running_complete()
        _answer_as_the_fold(ledger, persons)
        rebuild(ledger, ["balances"])
        assert TableReader(ledger).running_complete()
        _answer_as_the_fold(ledger, persons)
    finally:
        ledger.close()


def _answer_as_the_fold(ledger: Ledger, persons: list[str]) -> None:
    tables, events = TableReader(ledger), Reader(ledger)
    for person in persons:
        for as_of in (dt.date(2018, 6, 30), dt.date(2024, 6, 30)):
            assert tables.balance(person, as_of) == events.balance(person, as_of), person
