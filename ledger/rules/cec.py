"""Compte d'engagement citoyen (rules.md §6): one credit per activity type and year."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ledger.changes import CreditSettled
from ledger.money import format_hundredths
from ledger.rules.book import in_unit, unit_on
from ledger.rules.common import (
    Context,
    Incoming,
    Outcome,
    book_on,
    day,
    is_closed_on,
    later,
    posting,
)
from ledger.state import PersonState

CEC_TYPE = "civic_engagement.declared"


def credit_key(activity: str, year: int) -> str:
    return f"cec/{activity}/{year}"


def meets_threshold(data: Mapping[str, Any], thresholds: Mapping[str, list[int]]) -> bool:
    quantity_min, main_min = thresholds[data["activity"]]
    if _number(data["quantity"]) < quantity_min:
        return False
    return main_min == 0 or _number(data.get("quantity_main_organisation", "0")) >= main_min


def _number(value: Any) -> float:
    return float(value)


def _qualifying(state: PersonState, activity: str, year: int) -> list[Mapping[str, Any]]:
    facts = [
        fact["data"]
        for fact in state.facts_of_type(CEC_TYPE)
        if fact["data"]["activity"] == activity
        and int(fact["data"]["year"]) == year
    ]
    return sorted(facts, key=lambda data: str(data["validated_on"]))


def reconcile(
    state: PersonState, activity: str, year: int, incoming: Incoming, context: Context
) -> Outcome:
    """Post what (activity, year) is worth now minus what was already credited."""
    parameters = context.parameters
    year_start = dt.date(year, 1, 1)
    thresholds = parameters.get("cec_thresholds", year_start)
    qualifying = [d for d in _qualifying(state, activity, year) if meets_threshold(d, thresholds)]
    previous = state.credited.get(credit_key(activity, year))
    first_on = str(qualifying[0]["validated_on"]) if qualifying else incoming.published_on
    on = later(first_on, None if previous is None else previous.get("on"))
    unit = unit_on(parameters, day(on))
    credit = parameters.amount("cec_credit", year_start)
    target = (
        in_unit(parameters, "cec", credit, _unit_of(parameters, year_start), unit)
        if qualifying
        else 0
    )
    done = 0 if previous is None else in_unit(parameters, "cec", previous["amount"],
                                              previous["unit"], unit)
    return _post(state, activity, year, target - done, done, on, unit, incoming, context,
                 bool(qualifying))


def _unit_of(parameters: Any, year_start: dt.date) -> str:
    return str(parameters.table("cec_credit").row_on(year_start).unit)


def _post(
    state: PersonState,
    activity: str,
    year: int,
    delta: int,
    done: int,
    on: str,
    unit: str,
    incoming: Incoming,
    context: Context,
    qualifies: bool,
) -> Outcome:
    key = credit_key(activity, year)
    if delta == 0:
        why = "already credited" if qualifies else "below the activity's threshold"
        return Outcome([], [f"CEC {activity} {year}: {why}, nothing credited"])
    if delta > 0 and is_closed_on(state, day(on)):
        return Outcome([], [f"CEC {activity} {year}: account closed, nothing credited"])
    room = max(0, _room(state, on, unit, context)) if delta > 0 else done
    delta = min(delta, room) if delta > 0 else -min(-delta, room)
    if delta == 0:
        return Outcome([], [f"CEC {activity} {year}: ceiling reached, nothing credited"])
    kind = "cec_credit" if delta > 0 else "cec_regularisation"
    return Outcome(
        [posting(incoming, on, "cec", delta, unit, kind, year=year, memo=f"CEC {activity} {year}"),
         CreditSettled(key=key, amount=done + delta, unit=unit, on=on)],
        [f"CEC {activity} {year}: {format_hundredths(delta)} {unit}"],
    )


def _room(state: PersonState, on: str, unit: str, context: Context) -> int:
    parameters = context.parameters
    ceiling = parameters.amount("cec_ceiling", day(on))
    book = book_on(state, day(on), parameters)
    return ceiling - book.balances["cec"] if unit == book.unit else ceiling
