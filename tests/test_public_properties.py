"""Properties of the public counter and of conversions between counters (rules §10), over
generated careers that mix private and public work (hypothesis)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings

from ledger.application import Ledger
from ledger.money import HUNDREDTHS_PER_HOUR
from ledger.rules import cpf, public
from ledger.rules.book import EUR, HOURS, PUBLIC, fold
from ledger.state import PersonState
from projections.reader import Reader
from tests.backends import Ledgers
from tests.strategies import PERSONS, careers
from tests.support import identifier, ingest

# The careers also run through tests/test_properties.py (their public actions included).
AS_OF_DAYS = ("2016-06-30", "2018-12-31", "2019-01-01", "2022-06-30", "2027-01-01", "2030-01-01")
EUR_PER_HOUR_CENTS = 1500
HALF_HOUR_OF_EUROS_CENTS = 750  # round(euros / 15) may round up by at most half an hour


def _states(ledger: Ledger) -> list[PersonState]:
    reader = Reader(ledger)
    views = (reader.view(identifier(person)) for person in PERSONS)
    return [view.state for view in views if view.state is not None]


def _conversions(state: PersonState) -> dict[str, dict[str, Any]]:
    """request id -> {account: signed amount}."""
    pairs: dict[str, dict[str, Any]] = {}
    for line in state.postings:
        if line["kind"] == public.CONVERSION_KIND:
            pairs.setdefault(line["request_id"], {})[line["account"]] = line
    return pairs


@settings(max_examples=30)  # the shared property tests cover these careers too
@given(careers())
def test_conversions_never_create_rights(ledgers: Ledgers, feed: list[dict[str, Any]]) -> None:
    """Euros debited >= 15 x hours credited - 7.50; hours debited x 15 >= euros credited."""
    ledger = ledgers.new()
    try:
        ingest(ledger, feed)
        for state in _states(ledger):
            for request_id, pair in _conversions(state).items():
                euros, hours = pair["cpf"], pair[PUBLIC]
                assert (euros["unit"], hours["unit"]) == (EUR, HOURS), request_id
                assert euros["on"] == hours["on"], request_id
                if hours["amount"] > 0:  # euros to hours
                    debited, credited = -euros["amount"], hours["amount"]
                    assert debited > 0, request_id
                    assert debited >= (credited * EUR_PER_HOUR_CENTS // HUNDREDTHS_PER_HOUR
                                       - HALF_HOUR_OF_EUROS_CENTS), request_id
                else:  # hours to euros
                    debited, credited = -hours["amount"], euros["amount"]
                    assert credited > 0, request_id
                    assert debited * EUR_PER_HOUR_CENTS // HUNDREDTHS_PER_HOUR >= credited, \
                        request_id
    finally:
        ledger.close()


@settings(max_examples=30)  # the shared property tests cover these careers too
@given(careers())
def test_ceilings_hold_on_both_counters(ledgers: Ledgers, feed: list[dict[str, Any]]) -> None:
    """No accrual, regularisation, DIF or conversion credit takes a counter above its
    ceiling (the careers declare no low qualification: standard ceilings)."""
    ledger = ledgers.new()
    try:
        ingest(ledger, feed)
        parameters = ledger.parameters
        for state in _states(ledger):
            for index, line in enumerate(state.postings):
                if line["amount"] <= 0 or line["kind"] in ("training_refund", "hold",
                                                           "hold_released", "dif_registration",
                                                           "dif_correction"):
                    continue
                on = dt.date.fromisoformat(line["on"])
                book = fold(state.postings[:index], state.grants, on, parameters)
                if line["account"] == PUBLIC:
                    limit = public.ceiling(parameters, on.year, "standard")
                    assert book.balances[PUBLIC] + line["amount"] <= limit, line
                elif line["account"] == "cpf" and line["kind"] == public.CONVERSION_KIND:
                    limit, _ = cpf.ceiling(parameters, on.year, "standard")
                    assert book.balances["cpf"] + line["amount"] <= limit, line
    finally:
        ledger.close()


@settings(max_examples=30)  # the shared property tests cover these careers too
@given(careers())
def test_the_public_counter_is_hours_on_every_date_and_the_sum_of_its_lines(
    ledgers: Ledgers, feed: list[dict[str, Any]]
) -> None:
    ledger = ledgers.new()
    try:
        ingest(ledger, feed)
        reader = Reader(ledger)
        for person in PERSONS:
            view = reader.view(identifier(person))
            state = view.state or PersonState()
            for day in AS_OF_DAYS:
                as_of = dt.date.fromisoformat(day)
                document = reader.balance(identifier(person), as_of)
                account = document["accounts"][PUBLIC]
                assert account["unit"] == HOURS
                lines = [p for p in state.postings if p["account"] == PUBLIC and p["on"] <= day]
                assert all(p["unit"] == HOURS for p in lines)
                total = sum(p["amount"] for p in lines)
                assert account["balance"] == f"{total / 100:.2f}"
                held = sum(p["amount"] for p in state.postings if p["account"] == "held"
                           and p.get("bucket") == PUBLIC and p["on"] <= day)
                assert account["held"] == f"{held / 100:.2f}"
    finally:
        ledger.close()
