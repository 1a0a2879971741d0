"""Properties of the ledger over generated careers (hypothesis)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ledger.application import Ledger
from ledger.identity import aggregate_id
from ledger.rules import cpf
from ledger.rules.book import EUR, HOURS, MONEY_ACCOUNTS, fold, in_unit, unit_on
from ledger.state import HELD, PersonState, evolve, stamped
from projections.reader import Reader
from tests.backends import Ledgers
from tests.strategies import PERSONS, careers
from tests.support import identifier, ingest

AS_OF_DAYS = ("2016-06-30", "2018-12-31", "2019-01-01", "2022-06-30", "2027-01-01")


def _balances(ledger: Ledger) -> dict[tuple[str, str], dict[str, Any]]:
    reader = Reader(ledger)
    return {
        (person, day): reader.balance(identifier(person), dt.date.fromisoformat(day))
        for person in PERSONS
        for day in AS_OF_DAYS
    }


def _states(ledger: Ledger) -> list[PersonState]:
    reader = Reader(ledger)
    views = (reader.view(identifier(person)) for person in PERSONS)
    return [view.state for view in views if view.state is not None]


def _run(ledgers: Ledgers, feed: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    ledger = ledgers.new()
    try:
        ingest(ledger, feed)
        return _balances(ledger)
    finally:
        ledger.close()


@given(careers())
def test_same_feed_twice_changes_nothing(ledgers: Ledgers, feed: list[dict[str, Any]]) -> None:
    ledger = ledgers.new()
    try:
        ingest(ledger, feed)
        once = _balances(ledger)
        again = ingest(ledger, feed)
        assert {result.outcome for result in again} <= {"duplicate"}
        assert _balances(ledger) == once
    finally:
        ledger.close()


@given(careers(), st.data())
def test_duplicated_messages_give_the_same_balances(ledgers: Ledgers,
    feed: list[dict[str, Any]], data: st.DataObject
) -> None:
    copies = data.draw(st.lists(st.integers(0, len(feed) - 1), max_size=len(feed)))
    noisy = list(feed)
    for index in copies:
        # A copy arrives after its original (wherever earlier copies pushed the original).
        original = next(i for i, m in enumerate(noisy) if m is feed[index])
        position = data.draw(st.integers(original + 1, len(noisy)))
        noisy.insert(position, dict(feed[index]))
    assert _run(ledgers, noisy) == _run(ledgers, feed)


@given(careers())
def test_replaying_events_rebuilds_the_same_state(
    ledgers: Ledgers, feed: list[dict[str, Any]]
) -> None:
    ledger = ledgers.new()
    try:
        ingest(ledger, feed)
        for state in _states(ledger):
            rebuilt = PersonState(person_key=state.person_key)
            for event in ledger.app.events.get(aggregate_id(state.person_key)):
                changes = getattr(event, "changes", None)
                if changes is not None:
                    evolve(rebuilt, stamped(changes, getattr(event, "timestamp").isoformat()))  # noqa: B009
            assert rebuilt.to_json() == state.to_json()
    finally:
        ledger.close()


@given(careers())
def test_balance_is_the_sum_of_the_statement(ledgers: Ledgers, feed: list[dict[str, Any]]) -> None:
    ledger = ledgers.new()
    try:
        ingest(ledger, feed)
        reader = Reader(ledger)
        for state in _states(ledger):
            for day in AS_OF_DAYS:
                as_of = dt.date.fromisoformat(day)
                book = fold(state.postings, state.grants, as_of, ledger.parameters)
                lines = reader.lines(state, as_of)
                for account in MONEY_ACCOUNTS:
                    total = sum(line["amount"] for line in lines
                                if line["account"] == account and line["unit"] == book.unit)
                    assert total == book.balances[account], (account, day)
                points = sum(line["amount"] for line in lines if line["account"] == "c2p")
                assert points == book.points
    finally:
        ledger.close()


@given(careers())
def test_no_accrual_passes_the_ceiling(ledgers: Ledgers, feed: list[dict[str, Any]]) -> None:
    ledger = ledgers.new()
    try:
        ingest(ledger, feed)
        for state in _states(ledger):
            _check_ceilings(state, ledger)
    finally:
        ledger.close()


def _check_ceilings(state: PersonState, ledger: Ledger) -> None:
    parameters = ledger.parameters
    for index, line in enumerate(state.postings):
        if line["account"] != "cpf" or line["kind"] not in ("accrual", "regularisation"):
            continue
        if line["amount"] <= 0:
            continue
        on = dt.date.fromisoformat(line["on"])
        before = fold(state.postings[:index], state.grants, on, parameters).balances["cpf"]
        ceiling, unit = cpf.ceiling(parameters, line["year"], "standard")
        limit = in_unit(parameters, "cpf", ceiling, unit, unit_on(parameters, on))
        assert before + line["amount"] <= limit, (line, before, limit)


@given(careers())
def test_a_hold_never_exceeds_what_was_available(
    ledgers: Ledgers, feed: list[dict[str, Any]]
) -> None:
    ledger = ledgers.new()
    try:
        ingest(ledger, feed)
        for state in _states(ledger):
            _check_holds(state, ledger)
    finally:
        ledger.close()


def _check_holds(state: PersonState, ledger: Ledger) -> None:
    parameters = ledger.parameters
    for index, line in enumerate(state.postings):
        if line["account"] != HELD or line["kind"] != "hold":
            continue
        on = dt.date.fromisoformat(line["on"])
        bucket = f"grant:{line['grant_id']}" if line.get("grant_id") else line["bucket"]
        earlier = state.postings[:index]
        horizon = on if line["unit"] == HOURS else dt.date(9000, 1, 1)
        book = fold(earlier, state.grants, horizon, parameters, track_from=on)
        assert line["unit"] in (EUR, HOURS)
        assert line["amount"] <= book.lowest_available(bucket), (line, bucket)
