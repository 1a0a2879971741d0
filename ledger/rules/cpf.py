"""CPF statutory accrual of one acquisition year (rules.md §3): pure functions.

`entitlement` computes what year N is worth from the person's facts, before the ceiling;
`settle` applies the ceiling against the statutory balance when the credit is posted.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ledger.money import ceil_cents, ceil_whole_hour, format_hundredths, parse_hundredths
from ledger.parameters import Parameters
from ledger.rules.book import EUR, HOURS, in_unit
from ledger.state import fact_year

Fact = Mapping[str, Any]
ACCRUAL_FACT_TYPES = frozenset({"employment.declared", "self_employment.declared"})
# Facts that shape every year from theirs on (the profile), whatever year they were declared.
STATUS_FACT_TYPES = ("qualification.declared", "disability.recognised")


@dataclass(frozen=True, slots=True)
class Entitlement:
    """What year N is worth before the ceiling, in the unit of its regime."""

    year: int
    unit: str
    amount: int
    profile: str
    ratio: Fraction
    explanation: dict[str, Any] = field(default_factory=dict)


def year_of_fact(fact: Fact) -> int | None:
    """The acquisition year a fact feeds, if it feeds one."""
    return fact_year(fact["type"], fact["data"])


def _year_start(year: int) -> dt.date:
    return dt.date(year, 1, 1)


def _period_share(data: Mapping[str, Any], retired_on: dt.date | None) -> Fraction | None:
    """The part of an employment period before a full-rate retirement (None: all of it)."""
    if retired_on is None:
        return None
    start = dt.date.fromisoformat(data["period_start"])
    end = dt.date.fromisoformat(data["period_end"])
    if retired_on > end:
        return None
    if retired_on <= start:
        return Fraction(0)
    return Fraction((retired_on - start).days, (end - start).days + 1)


# The hours of a period as the rules read them, remembered by their text (payslips repeat the
# same few: "151.67", "1607"); an invalid text is never remembered (it raises).
_hundredths = functools.lru_cache(maxsize=4096)(parse_hundredths)


def salaried_ratio(
    periods: Iterable[Mapping[str, Any]], retired_on: dt.date | None
) -> tuple[Fraction, int]:
    """min(1, sum of hours_worked / reference_hours) and the hours worked (hundredths)."""
    ratio = Fraction(0)
    hours_total = 0
    whole: dict[int, int] = {}  # reference -> hours of the periods that count whole
    for data in periods:
        hours = _hundredths(data["hours_worked"])
        reference = _hundredths(data.get("reference_hours", "1607"))
        hours_total += hours
        if reference <= 0:
            continue
        share = _period_share(data, retired_on)
        if share is None:
            whole[reference] = whole.get(reference, 0) + hours
        else:
            ratio += Fraction(hours, reference) * share
    # Exact either way; one Fraction per reference rather than per period (they are slow).
    for reference, hours in whole.items():
        ratio = Fraction(hours, reference) if not ratio else ratio + Fraction(hours, reference)
    return (ratio if ratio < 1 else Fraction(1)), hours_total


def self_employed_months(declarations: Iterable[Mapping[str, Any]], months_max: int) -> int:
    months = sum(int(d["months_active"]) for d in declarations if d.get("contribution_paid"))
    return min(months_max, months)


def low_qualified_in(year: int, declarations: Iterable[Mapping[str, Any]]) -> bool:
    """In force for the year declared and later; a `false` ends it from the next year."""
    in_force = False
    for data in sorted(declarations, key=lambda d: str(d["declared_on"])):
        declared_year = int(str(data["declared_on"])[:4])
        if declared_year > year:
            break
        if data["low_qualified"]:
            in_force = True
        elif declared_year < year:
            in_force = False
    return in_force


def boeth_in(year: int, periods: Iterable[Mapping[str, Any]], counts_from: dt.date) -> bool:
    """A BOETH recognition covers at least one day of the year, from `counts_from` on."""
    first, last = max(_year_start(year), counts_from), dt.date(year, 12, 31)
    for data in periods:
        start = dt.date.fromisoformat(data["from"])
        end = dt.date.fromisoformat(data["to"]) if data.get("to") else dt.date.max
        if start <= last and end >= first:
            return True
    return False


@dataclass(slots=True)
class _YearFacts:
    keys: list[str] = field(default_factory=list)
    employment: list[Mapping[str, Any]] = field(default_factory=list)
    self_employment: list[Mapping[str, Any]] = field(default_factory=list)
    qualification: list[Mapping[str, Any]] = field(default_factory=list)
    disability: list[Mapping[str, Any]] = field(default_factory=list)


def _gather(year: int, facts: Mapping[str, Fact]) -> _YearFacts:
    gathered = _YearFacts()
    for key, fact in facts.items():
        kind, data = fact["type"], fact["data"]
        if kind == "qualification.declared":
            gathered.qualification.append(data)
        elif kind == "disability.recognised":
            gathered.disability.append(data)
        elif kind == "employment.declared" and data.get("regime") == "public":
            continue  # the public counter's (rules §10.3), not the private CPF's
        elif year_of_fact(fact) == year:
            gathered.keys.append(key)
            bucket = gathered.employment if kind == "employment.declared" else None
            (bucket if bucket is not None else gathered.self_employment).append(data)
    return gathered


def _profile(year: int, gathered: _YearFacts, parameters: Parameters) -> tuple[str, list[str]]:
    start = _year_start(year)
    if not parameters.flag("cpf_enhanced_profile_in_force", start):
        return "standard", []
    reasons = []
    if any(data.get("regime") == "esat" for data in gathered.employment):
        reasons.append("esat")
    if low_qualified_in(year, gathered.qualification):
        reasons.append("low_qualified")
    boeth_from = parameters.find("cpf_boeth_enhanced_from", start)
    if boeth_from is not None and boeth_in(year, gathered.disability, boeth_from):
        reasons.append("boeth")
    return ("enhanced" if reasons else "standard"), reasons


def entitlement(
    year: int,
    facts: Mapping[str, Fact],
    parameters: Parameters,
    *,
    retired_on: dt.date | None,
    statutory_balance: int,
    balance_unit: str,
) -> Entitlement:
    """Year N's accrual before the ceiling. `statutory_balance` (in `balance_unit`) picks the
    hours-regime rate (24 h below the threshold, 12 h at or above it)."""
    start = _year_start(year)
    gathered = _gather(year, facts)
    profile, reasons = _profile(year, gathered, parameters)
    ratio, hours_total = salaried_ratio(gathered.employment, retired_on)
    months = _months(year, gathered, parameters, retired_on)
    esat = "esat" in reasons
    unit = parameters.get("cpf_unit", start)
    if unit == HOURS:
        amount, used = _hours_amount(parameters, start, profile, ratio, months,
                                     statutory_balance, balance_unit)
    else:
        amount, used = _euro_amount(parameters, start, profile, ratio, months, esat)
    explanation = {
        "year": year,
        "unit": unit,
        "facts": sorted(gathered.keys),
        "hours_worked": format_hundredths(hours_total),
        "ratio": f"{float(ratio):.4f}",
        "self_employed_months": months,
        "profile": profile,
        "profile_reasons": reasons,
        "parameters": used,
        "entitled": format_hundredths(amount),
    }
    return Entitlement(year, unit, amount, profile, ratio, explanation)


def profile_of(year: int, facts: Mapping[str, Fact], parameters: Parameters) -> str:
    """The profile (standard or enhanced) of acquisition year N."""
    return _profile(year, _gather(year, facts), parameters)[0]


def _months(
    year: int, gathered: _YearFacts, parameters: Parameters, retired_on: dt.date | None
) -> int:
    start = _year_start(year)
    if not parameters.flag("cpf_self_employment_in_force", start):
        return 0
    months_max = int(parameters.get("cpf_months_per_year", start))
    months = self_employed_months(gathered.self_employment, months_max)
    if retired_on is not None and retired_on.year == year:
        months = min(months, retired_on.month - 1)
    elif retired_on is not None and retired_on.year < year:
        months = 0
    return months


def hours_rate_band(parameters: Parameters, start: dt.date, balance: int,
                    balance_unit: str) -> str:
    """The hours regime's rate band: the only way the statutory balance enters a year's
    entitlement (and its explanation)."""
    threshold = in_unit(parameters, "cpf", parameters.amount("cpf_hours_rate_threshold", start),
                        HOURS, balance_unit)
    return "low" if balance < threshold else "high"


def _hours_amount(
    parameters: Parameters,
    start: dt.date,
    profile: str,
    ratio: Fraction,
    months: int,
    balance: int,
    balance_unit: str,
) -> tuple[int, dict[str, str]]:
    band = hours_rate_band(parameters, start, balance, balance_unit)
    rate = parameters.amount(f"cpf_hours_rate_{band}_balance_{profile}", start)
    standard = parameters.amount(f"cpf_hours_rate_{band}_balance_standard", start)
    months_year = int(parameters.get("cpf_months_per_year", start))
    salaried = ceil_whole_hour(rate * ratio) if ratio else 0
    self_part = ceil_whole_hour(Fraction(standard * months, months_year)) if months else 0
    used = {"rate_h": format_hundredths(rate), "rate_band": band,
            "threshold_h": format_hundredths(parameters.amount("cpf_hours_rate_threshold", start))}
    return min(rate, salaried + self_part), used


def _euro_amount(
    parameters: Parameters,
    start: dt.date,
    profile: str,
    ratio: Fraction,
    months: int,
    esat: bool,
) -> tuple[int, dict[str, str]]:
    amount = parameters.amount(f"cpf_annual_amount_{profile}", start)
    standard = parameters.amount("cpf_annual_amount_standard", start)
    full_ratio = parameters.fraction("cpf_full_amount_ratio", start)
    months_year = int(parameters.get("cpf_months_per_year", start))
    if (esat and parameters.flag("cpf_esat_full_amount", start)) or ratio >= full_ratio:
        salaried = amount
    else:
        salaried = ceil_cents(amount * ratio) if ratio else 0
    self_part = ceil_cents(Fraction(standard * months, months_year)) if months else 0
    used = {"annual_amount_eur": format_hundredths(amount),
            "full_amount_ratio": str(full_ratio),
            "self_employed_amount_eur": format_hundredths(standard)}
    return min(amount, salaried + self_part), used


def ceiling(parameters: Parameters, year: int, profile: str) -> tuple[int, str]:
    """The statutory ceiling for the year's profile, and its unit."""
    start = _year_start(year)
    unit = str(parameters.get("cpf_unit", start))
    return parameters.amount(f"cpf_ceiling_{profile}", start), unit


def credit_after_ceiling(amount: int, ceiling_amount: int, balance: int) -> int:
    """max(0, min(amount, ceiling - balance))."""
    return max(0, min(amount, ceiling_amount - balance))


__all__ = [
    "ACCRUAL_FACT_TYPES",
    "EUR",
    "Entitlement",
    "ceiling",
    "credit_after_ceiling",
    "entitlement",
    "profile_of",
    "year_of_fact",
]
