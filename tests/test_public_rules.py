"""The public counter's rules called directly (rules §10): cheap unit tests beside the
rulebook cases, which run end to end."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

import pytest

from ledger.parameters import load
from ledger.rules import public
from ledger.rules.common import Context, Rejected
from ledger.state import PersonState

PARAMETERS = load()
CONTEXT = Context(PARAMETERS)


def _period(start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"type": "employment.declared",
            "data": {"employer": "12345678901234", "period_start": start, "period_end": end,
                     "hours_worked": "0", "regime": "public", **extra}}


def _state(cpf_cents: int = 0, public_hundredths: int = 0) -> PersonState:
    state = PersonState(person_key="k")
    for account, amount, unit in (("cpf", cpf_cents, "EUR"), ("cpf_public", public_hundredths,
                                                                "hours")):
        if amount:
            state.postings.append({"on": "2020-04-15", "account": account, "amount": amount,
                                   "unit": unit, "kind": "accrual", "source": "t",
                                   "message_id": "t"})
    return state


@pytest.mark.parametrize(
    ("periods", "share"),
    [
        ([("2021-01-01", "2021-12-31", "1")], Fraction(1)),
        ([("2021-07-01", "2021-12-31", "1")], Fraction(184, 365)),
        ([("2021-01-01", "2021-12-31", "0.5")], Fraction(1, 2)),
        ([("2021-01-01", "2021-12-31", "0.5"), ("2021-01-01", "2021-12-31", "0.7")], Fraction(1)),
        ([("2020-01-01", "2020-06-30", "1")], Fraction(182, 366)),
    ],
)
def test_the_public_share_is_pro_rata_of_days_and_capped_at_one(
    periods: list[tuple[str, str, str]], share: Fraction
) -> None:
    data = [_period(start, end, post_share=s)["data"] for start, end, s in periods]
    assert public.public_share(data, int(periods[0][0][:4]), None) == share


@pytest.mark.parametrize(
    ("year", "step_balance", "hours"),
    [(2016, 0, 0), (2017, 0, 2400), (2019, 11000, 2400), (2019, 12000, 1200), (2020, 14000, 2500)],
)
def test_rates_by_year_and_the_120_hour_step(year: int, step_balance: int, hours: int) -> None:
    facts = {"a": _period(f"{year}-01-01", f"{year}-12-31")}
    result = public.entitlement(year, facts, PARAMETERS, frozen=None, step_balance=step_balance)
    assert result is not None and result.amount == hours


def test_no_public_period_means_no_public_year() -> None:
    facts = {"a": {"type": "employment.declared",
                   "data": {"period_start": "2021-01-01", "period_end": "2021-12-31"}}}
    assert public.entitlement(2021, facts, PARAMETERS, frozen=None, step_balance=0) is None


def _conversion(direction: str, activity: str, amount: str | None = None,
                on: str = "2022-05-01") -> dict[str, Any]:
    data = {"request_id": "r", "direction": direction, "principal_activity": activity,
            "requested_on": on}
    if amount is not None:
        data["amount"] = amount
    return data


@pytest.mark.parametrize(
    ("euros", "hours", "debited"),
    [("22.50", 200, 2250), ("22.49", 100, 1500), ("7.50", 100, 750), ("100.00", 700, 10000),
     ("105.00", 700, 10500)],
)
def test_euros_to_hours_rounds_half_up_and_debits_at_most_the_hours_worth(
    euros: str, hours: int, debited: int
) -> None:
    decided = public.quote_conversion(_state(cpf_cents=100_000),
                                      _conversion("euros_to_hours", "public", euros), CONTEXT)
    assert (decided.credited, decided.debited) == (hours, debited)
    assert decided.debited >= decided.credited * 15 - 750


def test_less_than_half_an_hour_of_euros_converts_nothing() -> None:
    decided = public.quote_conversion(_state(cpf_cents=100_000),
                                      _conversion("euros_to_hours", "equal", "7.49"), CONTEXT)
    assert decided.credited == 0


def test_hours_to_euros_is_limited_by_the_private_ceiling() -> None:
    state = _state(cpf_cents=490_000, public_hundredths=5_000)
    decided = public.quote_conversion(state, _conversion("hours_to_euros", "private"), CONTEXT)
    assert (decided.credited, decided.debited, decided.limited_by) == (10_000, 700, ["ceiling"])
    assert decided.debited * 15 >= decided.credited


@pytest.mark.parametrize(
    ("direction", "activity", "on", "reason"),
    [
        ("hours_to_euros", "public", "2022-05-01", "conversion_direction_not_allowed"),
        ("euros_to_hours", "private", "2022-05-01", "conversion_direction_not_allowed"),
        ("euros_to_hours", "equal", "2019-12-31", "field_not_in_force"),
    ],
)
def test_conversion_refusals(direction: str, activity: str, on: str, reason: str) -> None:
    with pytest.raises(Rejected) as refusal:
        public.quote_conversion(_state(100_000, 5_000), _conversion(direction, activity, on=on),
                                CONTEXT)
    assert refusal.value.reason == reason


@pytest.mark.parametrize(
    ("retired_on", "full_rate", "invalidity", "frozen"),
    [("2019-09-01", False, False, False), ("2019-09-01", True, False, True),
     ("2021-09-01", False, False, True), ("2021-09-01", True, True, False)],
)
def test_which_retirement_freezes_the_public_counter(
    retired_on: str, full_rate: bool, invalidity: bool, frozen: bool
) -> None:
    data = {"retired_on": retired_on, "full_rate": full_rate, "invalidity": invalidity}
    assert public.freezes_public(data, PARAMETERS) is frozen


def test_the_six_year_budget_window_ends_on_the_request() -> None:
    state = _state()
    state.postings.append({"on": "2016-05-02", "account": "cpf_public", "amount": 5_000,
                           "unit": "hours", "kind": public.CONVERSION_KIND})
    state.postings.append({"on": "2016-05-01", "account": "cpf_public", "amount": 7_000,
                           "unit": "hours", "kind": public.CONVERSION_KIND})
    assert public.conversion_budget_used(state, dt.date(2022, 5, 1), PARAMETERS) == 5_000
