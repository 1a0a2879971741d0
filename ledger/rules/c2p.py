"""Prevention points, C3P then C2P (rules.md §8): acquisition per quarter and the four uses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ledger.changes import AnyChange, C2pUsed, CreditSettled, GrantOpened, StatusChanged
from ledger.money import format_hundredths
from ledger.outcomes import Reason
from ledger.parameters import Parameters
from ledger.rules.common import (
    FAR_FUTURE,
    Context,
    Incoming,
    Outcome,
    Rejected,
    book_on,
    day,
    is_closed_on,
    is_frozen_on,
    posting,
)
from ledger.state import PersonState

EXPOSURE_TYPE = "hardship.exposure.declared"
QUARTERS = (1, 2, 3, 4)


def quarter_bounds(year: int, quarter: int) -> tuple[dt.date, dt.date]:
    first = dt.date(year, 3 * quarter - 2, 1)
    last = dt.date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1) - dt.timedelta(days=1)
    return first, last


def quarter_key(year: int, quarter: int) -> str:
    return f"c2p/{year}Q{quarter}"


def _factors(state: PersonState, year: int, quarter: int) -> set[str]:
    """Factors of one quarter: the union over every employer's declaration."""
    factors: set[str] = set()
    for fact in state.facts_of_type(EXPOSURE_TYPE):
        data = fact["data"]
        if int(data["year"]) == year and quarter in data["quarters"]:
            factors.update(data["factors"])
    return factors


def quarter_points(
    factors: set[str], year: int, quarter: int, birth_date: str | None, parameters: Parameters
) -> tuple[int, list[str], str]:
    """(points, ignored factors, regime) for one exposed quarter."""
    first, last = quarter_bounds(year, quarter)
    valid = set(parameters.find("c2p_factors", first) or ())
    counted, ignored = factors & valid, sorted(factors - valid)
    regime = str(parameters.get("c2p_points_regime", last))
    if not counted:
        return 0, ignored, regime
    if regime == "per_factor":
        points = len(counted)
    elif len(counted) == 1:
        points = int(parameters.get("c2p_points_one_factor", last))
    else:
        points = int(parameters.get("c2p_points_several_factors", last))
    doubling = parameters.day("c2p_doubling_born_before", last)
    if birth_date is not None and day(birth_date) < doubling:
        points *= 2
    return points, ignored, regime


def _old_regime_credited(state: PersonState, parameters: Parameters) -> int:
    total = 0
    for key, record in state.credited.items():
        if key.startswith("c2p/"):
            year, quarter = int(key[4:8]), int(key[9])
            last = quarter_bounds(year, quarter)[1]
            if parameters.find("c2p_acquired_ceiling", last) is not None:
                total += record["amount"]
    return total


def reconcile_year(state: PersonState, year: int, incoming: Incoming, context: Context) -> Outcome:
    outcome = Outcome()
    acquired = [_old_regime_credited(state, context.parameters)]
    for quarter in QUARTERS:
        outcome.extend(_reconcile_quarter(state, year, quarter, incoming, context, acquired))
    return outcome


def _reconcile_quarter(
    state: PersonState,
    year: int,
    quarter: int,
    incoming: Incoming,
    context: Context,
    acquired: list[int],
) -> Outcome:
    """One quarter's points; `acquired` is the running total of points acquired under the
    capped regime, this step's earlier quarters included."""
    parameters = context.parameters
    first, last = quarter_bounds(year, quarter)
    target, ignored, _ = quarter_points(_factors(state, year, quarter), year, quarter,
                                        state.birth_date, parameters)
    if state.retired_on is not None and first >= day(state.retired_on):
        target = 0
    key = quarter_key(year, quarter)
    done = state.credited.get(key, {"amount": 0})["amount"]
    delta = target - done
    notes = [f"C2P {year}Q{quarter}: factor {f} does not count on {first}" for f in ignored]
    if delta > 0:
        delta = _within_ceiling(acquired[0], delta, last, parameters)
        if is_closed_on(state, day(incoming.published_on)):
            delta = 0
    if delta == 0:
        return Outcome([], notes)
    if parameters.find("c2p_acquired_ceiling", last) is not None:
        acquired[0] += delta
    return Outcome(
        [posting(incoming, incoming.published_on, "c2p", delta, "points",
                 "c2p_acquired" if delta > 0 else "c2p_regularisation",
                 memo=f"C2P exposure {year}Q{quarter}", year=year),
         CreditSettled(key=key, amount=done + delta, unit="points", on=incoming.published_on)],
        [*notes, f"C2P {year}Q{quarter}: {delta:+d} points"],
    )


def _within_ceiling(acquired: int, delta: int, last: dt.date, parameters: Parameters) -> int:
    ceiling = parameters.find("c2p_acquired_ceiling", last)
    if ceiling is None:
        return delta
    return max(0, min(delta, int(ceiling) - acquired))


def _age_years(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def check_use(state: PersonState, incoming: Incoming, context: Context) -> None:
    """Reject a use of points that breaks a rule (each with its own code)."""
    parameters = context.parameters
    data = incoming.data
    use, points, on = str(data["use"]), int(data["points"]), day(str(data["requested_on"]))
    if is_closed_on(state, on) or is_frozen_on(state, on):
        raise Rejected(Reason.C2P_ACCOUNT_CLOSED, "the C2P account is closed (retirement or death)")
    if use not in parameters.get("c2p_uses", on):
        raise Rejected(Reason.C2P_USE_NOT_IN_FORCE, f"use {use} is not available on {on}")
    if points <= 0:
        raise Rejected(Reason.C2P_INVALID_POINTS, "points must be positive")
    _check_block(use, points, on, parameters)
    balance = min(book_on(state, on, parameters).points, book_on(state, _FAR, parameters).points)
    if points > balance:
        raise Rejected(Reason.C2P_INSUFFICIENT_POINTS,
                       f"{points} points asked, {balance} available")
    if use == "retirement":
        _check_retirement(state, points, day(str(data["birth_date"])), on, parameters)
    _check_reserved(state, use, points, balance, day(str(data["birth_date"])), on, parameters)


_FAR = FAR_FUTURE


def _check_block(use: str, points: int, on: dt.date, parameters: Parameters) -> None:
    name = {"part_time": "c2p_part_time_block_points",
            "retirement": "c2p_retirement_block_points"}.get(use)
    if name is not None and points % int(parameters.get(name, on)) != 0:
        raise Rejected(Reason.C2P_NOT_A_BLOCK, f"{use} uses points by blocks of "
                       f"{parameters.get(name, on)}")


def _check_retirement(
    state: PersonState, points: int, birth: dt.date, on: dt.date, parameters: Parameters
) -> None:
    if _age_years(birth, on) < int(parameters.get("c2p_retirement_min_age_years", on)):
        raise Rejected(Reason.C2P_TOO_YOUNG, "retirement use needs the minimum age")
    used = sum(u["points"] for u in state.c2p_uses if u["use"] == "retirement")
    limit = int(parameters.get("c2p_retirement_lifetime_points_max", on))
    if used + points > limit:
        raise Rejected(Reason.C2P_RETIREMENT_LIMIT,
                       f"{used} of {limit} lifetime points already used")


def _check_reserved(
    state: PersonState,
    use: str,
    points: int,
    balance: int,
    birth: dt.date,
    on: dt.date,
    parameters: Parameters,
) -> None:
    reserved_uses = parameters.get("c2p_reserved_uses", on)
    if use in reserved_uses:
        return
    reserved = int(parameters.get("c2p_reserved_points_by_birth_date", birth))
    spent = sum(u["points"] for u in state.c2p_uses if u["use"] in reserved_uses)
    still_reserved = max(0, reserved - spent)
    if points > balance - still_reserved:
        raise Rejected(Reason.C2P_RESERVED_POINTS,
                       f"{still_reserved} points are reserved for {', '.join(reserved_uses)}")


def use_points(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    """Record an accepted use; a training use becomes a c2p top-up grant."""
    parameters = context.parameters
    data = incoming.data
    use, points, on = str(data["use"]), int(data["points"]), str(data["requested_on"])
    record: dict[str, Any] = {"use": use, "points": points, "on": on,
                              "message_id": incoming.message_id}
    changes: list[AnyChange] = [
        posting(incoming, on, "c2p", -points, "points", "c2p_used", memo=f"C2P use: {use}"),
        StatusChanged(birth_date=str(data["birth_date"])),
    ]
    notes = [f"C2P: {points} points used for {use}"]
    record.update(_use_effect(use, points, day(on), parameters))
    if use == "training":
        changes.extend(_training_grant(incoming, points, on, parameters))
        notes.append(f"c2p top-up of {record['value']} {record['unit']}")
    changes.append(C2pUsed(use=record))
    return Outcome(changes, notes)


def _use_effect(use: str, points: int, on: dt.date, parameters: Parameters) -> Mapping[str, Any]:
    if use == "training":
        per_point = parameters.amount("c2p_training_value_per_point", on)
        unit = str(parameters.table("c2p_training_value_per_point").row_on(on).unit)  # type: ignore[union-attr]
        return {"value": format_hundredths(per_point * points), "unit": unit}
    if use == "part_time":
        blocks = points // int(parameters.get("c2p_part_time_block_points", on))
        return {"months": blocks * int(parameters.get("c2p_part_time_months_per_block", on))}
    if use == "retirement":
        blocks = points // int(parameters.get("c2p_retirement_block_points", on))
        return {"quarters": blocks * int(parameters.get("c2p_retirement_quarters_per_block", on))}
    return {}


def _training_grant(
    incoming: Incoming, points: int, on: str, parameters: Parameters
) -> list[AnyChange]:
    per_point = parameters.amount("c2p_training_value_per_point", day(on))
    unit = str(parameters.table("c2p_training_value_per_point").row_on(day(on)).unit)  # type: ignore[union-attr]
    grant_id = f"c2p:{incoming.source}:{incoming.message_id}"
    grant = {"grant_id": grant_id, "funder_type": "cnam", "funder_id": "cnam", "kind": "c2p",
             "amount": per_point * points, "unit": unit, "granted_on": on,
             "earmarked_certifications": [], "expires_on": None, "refundable": False}
    return [
        GrantOpened(grant=grant),
        posting(_as_incoming(incoming), on, "topups", per_point * points, unit, "topup_grant",
                grant_id=grant_id, memo="C2P points converted to a training top-up"),
    ]


def _as_incoming(incoming: Incoming) -> Incoming:
    return incoming


def birth_date_change(data: Mapping[str, Any]) -> StatusChanged:
    return StatusChanged(birth_date=str(data["birth_date"]))
