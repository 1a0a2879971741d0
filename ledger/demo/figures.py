"""The rulebook's figures that shape the demo's messages, read from the ledger's own parameter
tables (`ledger/parameters/*.toml`): a change of the rulebook is a change of the feed, with no
second copy of a figure to keep in step. Read once, at import.

Only what the feed needs to look plausible lives here (dates that change what producers may
send, limits producers respect, rough accrual figures for the rights estimates of orders);
the ledger decides everything else from the same tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from fractions import Fraction
from typing import Any

from ledger.money import CENTS_PER_EURO, HUNDREDTHS_PER_HOUR
from ledger.parameters import Parameters, Row
from ledger.parameters import load as load_parameters

_PARAMETERS = load_parameters()
_START = date(2015, 1, 1)


def _rows(name: str, parameters: Parameters = _PARAMETERS) -> tuple[Row, ...]:
    return parameters.table(name).rows


def _first_day(name: str, value: Any = True) -> date:
    """The first day a parameter has `value`."""
    return next(row.effective_from for row in _rows(name) if row.value == value)


def _last_day(name: str, value: Any = True) -> date:
    """The last day a parameter has `value` (the row's `effective_to`)."""
    row = next(row for row in _rows(name) if row.value == value)
    assert row.effective_to is not None, f"{name} has {value!r} without an end"
    return row.effective_to


def _whole(name: str, day: date, per: int) -> int:
    return _PARAMETERS.amount(name, day) // per


def _factors_in_force() -> dict[str, tuple[date, date | None]]:
    """Factor -> (first day it counts, first day it no longer counts, or None)."""
    rows = _rows("c2p_factors")
    factors: dict[str, tuple[date, date | None]] = {}
    for index, row in enumerate(rows):
        for factor in row.value:
            if factor in factors:
                continue
            until = next((later.effective_from for later in rows[index + 1:]
                          if factor not in later.value), None)
            factors[factor] = (row.effective_from, until)
    return factors


def _thresholds(table: dict[str, Iterable[int]]) -> dict[str, tuple[int, int | None]]:
    return {activity: (int(values[0]), int(values[1]) or None)
            for activity, values in ((a, list(v)) for a, v in table.items())}


# The euro switch (rules §2) and top-up earmarks (§5).
EUR_FROM: date = _PARAMETERS.day("euro_regime_from", _START)
EARMARKS_FROM: date = _first_day("topup_earmark_expiry_refund_in_force")
# DIF (§4).
DIF_OPENS: date = _first_day("dif_registration_open")
DIF_CLOSES: date = _last_day("dif_registration_open")
DIF_HOURS_MAX: int = _whole("dif_hours_max", _START, HUNDREDTHS_PER_HOUR)
# Statutory accrual (§3): full-time figures, for the rough rights estimates of orders.
REFERENCE_HOURS: int = _whole("cpf_reference_hours_default", _START, HUNDREDTHS_PER_HOUR)
HOURS_ACCRUAL: int = _whole("cpf_hours_rate_low_balance_standard", _START, HUNDREDTHS_PER_HOUR)
EUR_ACCRUAL: int = _whole("cpf_annual_amount_standard", EUR_FROM, CENTS_PER_EURO)
EUR_CEILING: int = _whole("cpf_ceiling_standard", EUR_FROM, CENTS_PER_EURO)
EUR_PER_HOUR: int = _whole("conversion_eur_per_hour_cpf", EUR_FROM, CENTS_PER_EURO)
HALF_TIME: float = float(Fraction(str(_PARAMETERS.get("cpf_full_amount_ratio", EUR_FROM))))
# CEC (§6).
CEC_FIRST_YEAR: int = _first_day("cec_in_force").year
CIVIC_THRESHOLDS: dict[str, tuple[int, int | None]] = _thresholds(
    _PARAMETERS.get("cec_thresholds", date(CEC_FIRST_YEAR, 1, 1)))
CIVIC_ACTIVITIES: tuple[str, ...] = tuple(CIVIC_THRESHOLDS)
# C2P (§8).
FACTORS_IN_FORCE: dict[str, tuple[date, date | None]] = _factors_in_force()
POINTS_RULE_CHANGE: date = _first_day("c2p_points_regime", "per_factor")
POINTS_CAP_BEFORE_CHANGE: int = int(_PARAMETERS.get("c2p_acquired_ceiling", _START))
DOUBLE_POINTS_BORN_BEFORE: date = _PARAMETERS.day("c2p_doubling_born_before", _START)
NO_RESERVED_POINTS_BORN_BEFORE: date = next(
    row.effective_from for row in _rows("c2p_reserved_points_by_birth_date") if row.value)
RETIREMENT_USE_AGE_MIN: int = int(_PARAMETERS.get("c2p_retirement_min_age_years", _START))
RETIREMENT_POINTS_MAX: int = int(_PARAMETERS.get("c2p_retirement_lifetime_points_max", _START))
POINTS_BLOCK: int = int(_PARAMETERS.get("c2p_retirement_block_points", _START))
# Public agents (§10).
PUBLIC_FIRST_YEAR: int = _first_day("cpf_public_in_force").year
PUBLIC_HOURS_ACCRUAL: int = _whole("cpf_public_rate_low_balance_standard",
                                   date(PUBLIC_FIRST_YEAR, 1, 1), HUNDREDTHS_PER_HOUR)
PUBLIC_CEILING_HOURS: int = _whole("cpf_public_ceiling_standard", date(PUBLIC_FIRST_YEAR, 1, 1),
                                   HUNDREDTHS_PER_HOUR)
PUBLIC_DIF_HOURS_MAX: int = _whole("cpf_public_dif_hours_max", _START, HUNDREDTHS_PER_HOUR)
CONVERSIONS_FROM: date = _first_day("cpf_conversion_in_force")
PUBLIC_ENHANCED_CATEGORIES: tuple[str, ...] = tuple(
    _PARAMETERS.get("cpf_public_enhanced_categories", date(PUBLIC_FIRST_YEAR, 1, 1)))
