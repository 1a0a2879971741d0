"""Public agents and moves between sectors (rules.md §10): pure functions.

The public counter `cpf_public` is in hours at every date. It accrues at the same year close
as the private CPF, from the year's public periods only (§10.3); it receives the public DIF
(§10.2); it converts to and from the private `cpf` on the holder's request (§10.4); it funds
public orders in hours (§10.5, in `ledger.rules.orders`); a retirement may freeze it (§10.6).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ledger.changes import AnyChange, PublicYearSettled
from ledger.money import (
    HUNDREDTHS_PER_HOUR,
    ceil_whole_hour,
    format_hundredths,
    parse_hundredths,
)
from ledger.outcomes import Reason
from ledger.parameters import Parameters
from ledger.rules import cpf
from ledger.rules.book import EUR, HOURS, PUBLIC, fold
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
    statutory_balance,
)
from ledger.state import PersonState

Fact = Mapping[str, Any]
REGIME = "public"
EMPLOYMENT_TYPE = "employment.declared"
QUALIFICATION_TYPE = "qualification.declared"
EUROS_TO_HOURS, HOURS_TO_EUROS = "euros_to_hours", "hours_to_euros"
CONVERSION_KIND = "sector_conversion"
FIRST_PUBLIC_YEAR_FALLBACK = 2017


def is_public_period(fact: Fact) -> bool:
    return bool(fact["type"] == EMPLOYMENT_TYPE and fact["data"].get("regime") == REGIME)


def is_public(data: Mapping[str, Any]) -> bool:
    """A message's data about the public counter (`regime: "public"`)."""
    return data.get("regime") == REGIME


def frozen_on(state: PersonState) -> dt.date | None:
    return day(state.public_frozen_on) if state.public_frozen_on else None


def is_public_frozen_on(state: PersonState, on: dt.date) -> bool:
    return state.public_frozen_on is not None and on >= day(state.public_frozen_on)


# Accrual of year N (§10.3).


@dataclass(frozen=True, slots=True)
class Entitlement:
    """What year N is worth on the public counter, before the ceiling, in hundredths of an
    hour."""

    year: int
    amount: int
    profile: str
    share: Fraction
    explanation: dict[str, Any] = field(default_factory=dict)


def _start(year: int) -> dt.date:
    return dt.date(year, 1, 1)


def public_share(
    periods: Iterable[Mapping[str, Any]], year: int, frozen: dt.date | None
) -> Fraction:
    """min(1, sum of post_share x days(period) / days(year)) [decision]: part-years are pro rata
    of days, overlapping periods add up; days from a freezing retirement on do not count."""
    first, last = _start(year), dt.date(year, 12, 31)
    if frozen is not None:
        last = min(last, frozen - dt.timedelta(days=1))
    year_days = (dt.date(year, 12, 31) - first).days + 1
    days_by_share: dict[str, int] = {}  # exact either way; one Fraction per post share
    for data in periods:
        start = max(first, dt.date.fromisoformat(data["period_start"]))
        end = min(last, dt.date.fromisoformat(data["period_end"]))
        if start <= end:
            share = str(data.get("post_share", "1"))
            days_by_share[share] = days_by_share.get(share, 0) + (end - start).days + 1
    total = sum((_fraction(share) * Fraction(days, year_days)
                 for share, days in days_by_share.items()), Fraction(0))
    return total if total < 1 else Fraction(1)


# A post share's text as a Fraction, remembered (a few values: "1", "0.5", "0.8").
_fraction = functools.lru_cache(maxsize=1024)(Fraction)


def _gather(year: int, facts: Mapping[str, Fact]) -> tuple[list[str], list[Any], list[Any]]:
    """(keys and data of the year's public periods, qualification declarations)."""
    keys: list[str] = []
    periods: list[Any] = []
    qualification: list[Any] = []
    for key, fact in facts.items():
        kind, data = fact["type"], fact["data"]
        if kind == QUALIFICATION_TYPE:
            qualification.append(data)
        elif (kind == EMPLOYMENT_TYPE and data.get("regime") == REGIME
              and int(str(data["period_start"])[:4]) == year):
            keys.append(key)
            periods.append(data)
    return keys, periods, qualification


def years_with_public_facts(state: PersonState) -> set[int]:
    return {int(str(fact["data"]["period_start"])[:4])
            for key in state.index.by_regime.get(REGIME, ())
            if is_public_period(fact := state.hot_facts[key])}


def _profile(
    year: int, periods: list[Any], qualification: list[Any], parameters: Parameters
) -> tuple[str, list[str]]:
    categories = parameters.find("cpf_public_enhanced_categories", _start(year)) or ()
    category = [str(p["category"]) for p in periods if p.get("category") in categories]
    if category and cpf.low_qualified_in(year, qualification):
        return "enhanced", [f"category_{category[0]}", "low_qualified"]
    return "standard", []


def profile_of(year: int, facts: Mapping[str, Fact], parameters: Parameters) -> str:
    """The profile of year N, or (when N has no public period yet: its facts come after it)
    of the last year before it with one, with the low-qualification declarations in force for
    N: the ceiling and conversion budget of "the current year" (§10.4)."""
    years = [y for y in years_with_facts_in(facts) if y <= year]
    if not years:
        return "standard"
    _, periods, _ = _gather(max(years), facts)
    _, _, qualification = _gather(year, facts)
    return _profile(year, periods, qualification, parameters)[0]


def public_facts(state: PersonState, year: int | None = None) -> dict[str, dict[str, Any]]:
    """The facts the public counter's accrual reads (its periods, of `year` only when given,
    and the qualification declarations), in recording order: read through the fact index, so
    neither a scan of the career nor a decoding of the settled years' private facts that a
    snapshot left encoded."""
    facts = state.hot_facts
    periods = state.index.by_regime.get(REGIME, {}) if year is None else \
        dict.fromkeys(_period_keys(state, year))
    qualifications = state.index.by_type.get(QUALIFICATION_TYPE)
    if not qualifications:
        return {key: facts[key] for key in periods}
    keys = sorted({**periods, **qualifications}, key=lambda key: int(facts[key]["seq"]))
    return {key: facts[key] for key in keys}


def has_public_period(year: int, facts: Mapping[str, Fact]) -> bool:
    """Cheap: most persons have none (no balance is folded for them)."""
    return any(is_public_period(fact) and int(str(fact["data"]["period_start"])[:4]) == year
               for fact in facts.values())


def _period_keys(state: PersonState, year: int) -> list[str]:
    """The keys of the person's public periods starting in `year`, in recording order (the
    fact index: employment facts of the public regime, by the year they start in)."""
    periods = state.index.by_regime.get(REGIME)
    if not periods:  # most persons
        return []
    return [key for key in state.index.by_year.get(year, ()) if key in periods]


def has_public_period_in(state: PersonState, year: int) -> bool:
    """`has_public_period` of the person's active facts, read through the fact index."""
    return bool(_period_keys(state, year))


def years_with_facts_in(facts: Mapping[str, Fact]) -> set[int]:
    return {int(str(fact["data"]["period_start"])[:4])
            for fact in facts.values() if is_public_period(fact)}


def entitlement(
    year: int,
    facts: Mapping[str, Fact],
    parameters: Parameters,
    *,
    frozen: dt.date | None,
    step_balance: int,
) -> Entitlement | None:
    """Year N's public accrual before the ceiling (None: no public period in year N).
    `step_balance` is the cpf_public balance before the credit, for the 120-h step."""
    keys, periods, qualification = _gather(year, facts)
    if not keys:
        return None
    start = _start(year)
    explanation: dict[str, Any] = {"year": year, "unit": HOURS, "facts": sorted(keys)}
    if not parameters.flag("cpf_public_in_force", start):
        explanation.update({"share": "0.0000", "profile": "standard", "profile_reasons": [],
                            "parameters": {}, "entitled": "0.00",
                            "note": "the public CPF starts with acquisition year 2017"})
        return Entitlement(year, 0, "standard", Fraction(0), explanation)
    profile, reasons = _profile(year, periods, qualification, parameters)
    share = public_share(periods, year, frozen)
    threshold = parameters.find("cpf_public_rate_threshold", start)
    band = "low" if threshold is None or step_balance < threshold else "high"
    rate = parameters.amount(f"cpf_public_rate_{band}_balance_{profile}", start)
    amount = min(rate, ceil_whole_hour(rate * share)) if share else 0
    used = {"rate_h": format_hundredths(rate), "rate_band": band,
            "step_balance_h": format_hundredths(step_balance)}
    if threshold is not None:
        used["threshold_h"] = format_hundredths(int(threshold))
    explanation.update({"share": f"{float(share):.4f}", "profile": profile,
                        "profile_reasons": reasons, "parameters": used,
                        "entitled": format_hundredths(amount)})
    return Entitlement(year, amount, profile, share, explanation)


def ceiling(parameters: Parameters, year: int, profile: str) -> int:
    first = parameters.table("cpf_public_ceiling_standard").rows[0].effective_from.year
    return parameters.amount(f"cpf_public_ceiling_{profile}", _start(max(year, first)))


def credit_after_ceiling(amount: int, ceiling_amount: int, balance: int) -> int:
    return max(0, min(amount, ceiling_amount - balance))


def settle(state: PersonState, year: int, on: str, incoming: Incoming, context: Context
           ) -> tuple[Outcome, dict[str, Any] | None]:
    """Close (or regularise) year N on the public counter on `on`: the changes, and the
    explanation of the settlement (None when the year has nothing public)."""
    parameters = context.parameters
    record = state.public_years.get(str(year))
    if record is None and not has_public_period_in(state, year):
        return Outcome(), None
    posted_on = day(on)
    balance = book_on(state, posted_on, parameters).balances[PUBLIC]
    step_balance = balance if record is None else int(record.get("step_balance", balance))
    result = entitlement(year, public_facts(state, year), parameters, frozen=frozen_on(state),
                         step_balance=step_balance)
    if result is None and record is None:
        return Outcome(), None
    entitled = 0 if result is None else result.amount
    profile = "standard" if result is None else result.profile
    ceiling_amount = ceiling(parameters, year, profile)
    detail = dict(result.explanation) if result is not None else {
        "year": year, "unit": HOURS, "facts": [], "entitled": "0.00"}
    previous_entitled = 0 if record is None else int(record["entitled"])
    previous_credited = 0 if record is None else int(record["credited"])
    if is_closed_on(state, posted_on):
        change, note = 0, "account closed (death): nothing credited"
    elif record is None:
        change = credit_after_ceiling(entitled, ceiling_amount, balance)
        note = (f"public year {year}: entitled {format_hundredths(entitled)} h, credited "
                f"{format_hundredths(change)} h")
        if change < entitled:
            note += (f" (ceiling {format_hundredths(ceiling_amount)} h, balance "
                     f"{format_hundredths(balance)} h)")
    else:
        delta = entitled - previous_entitled
        change = (min(delta, max(0, ceiling_amount - balance)) if delta > 0
                  else -min(-delta, previous_credited))
        note = (f"public year {year} regularised: entitled {format_hundredths(previous_entitled)}"
                f" -> {format_hundredths(entitled)} h, posting {format_hundredths(change)} h")
    credited = previous_credited + change
    if "note" in detail:
        note = f"{detail['note']}; {note}"
    detail.update({"ceiling": format_hundredths(ceiling_amount),
                   "balance": format_hundredths(balance), "posted_on": on,
                   "posting_unit": HOURS, "credited": format_hundredths(credited), "note": note})
    changes: list[AnyChange] = []
    if change:
        kind = "accrual" if record is None else "regularisation"
        memo = None if record is None else f"regularisation of {year}: {incoming.type}"
        changes.append(posting(incoming, on, PUBLIC, change, HOURS, kind, year=year, memo=memo))
    changes.append(PublicYearSettled(
        year=year, entitled=entitled, credited=credited, step_balance=step_balance,
        # The year stays settled from its close (a regularisation is a posting).
        settled_on=on if record is None else record["settled_on"]))
    return Outcome(changes, [note]), detail


def pending_explanation(state: PersonState, year: int, on: dt.date, context: Context
                        ) -> dict[str, Any] | None:
    """Year N as if closed on `on` (its explanation), None when nothing public."""
    parameters = context.parameters
    if not has_public_period_in(state, year):
        return None
    balance = book_on(state, on, parameters).balances[PUBLIC]
    result = entitlement(year, public_facts(state, year), parameters, frozen=frozen_on(state),
                         step_balance=balance)
    if result is None:
        return None
    ceiling_amount = ceiling(parameters, year, result.profile)
    detail = dict(result.explanation)
    detail.update({"ceiling": format_hundredths(ceiling_amount),
                   "balance": format_hundredths(balance),
                   "credited": format_hundredths(credit_after_ceiling(
                       result.amount, ceiling_amount, balance))})
    return detail


# What the balance document needs (the same function for both readers).


def _public_periods_by_year(state: PersonState) -> dict[int, list[Any]]:
    """The data of a person's public periods by the year they start in."""
    periods: dict[int, list[Any]] = {}
    for key in state.index.by_regime.get(REGIME, ()):
        fact = state.hot_facts[key]
        if is_public_period(fact):
            periods.setdefault(int(str(fact["data"]["period_start"])[:4]), []).append(
                fact["data"])
    return periods


def document_part(state: PersonState, parameters: Parameters) -> dict[str, Any]:
    """The public counter's part of a person's account document: a function of the state
    only. `years`: each year with public facts, settled (`credited`, `settled_on`) or not
    (`entitled` before the ceiling, `ceiling`); `profiles` ([since year, profile]) for the
    ceiling of the day."""
    periods = _public_periods_by_year(state)
    years = sorted(periods)
    rows: list[dict[str, Any]] = []
    profiles: list[list[Any]] = []
    if years:
        # What a year's profile reads, gathered once (not the whole career for every year):
        # the periods of the last year with public periods up to it, and the qualifications.
        qualification = [state.hot_facts[key]["data"]
                         for key in state.index.by_type.get(QUALIFICATION_TYPE, ())]
        declared = [int(str(data["declared_on"])[:4]) for data in qualification]
        shaping_year = years[0]
        for year in range(years[0], max([years[-1], *declared]) + 1):
            shaping_year = year if year in periods else shaping_year
            profile = _profile(year, periods[shaping_year], qualification, parameters)[0]
            if not profiles or profiles[-1][1] != profile:
                profiles.append([year, profile])
    for year in years:
        record = state.public_years.get(str(year))
        if record is not None:
            rows.append({"year": year, "settled_on": record["settled_on"],
                         "credited": int(record["credited"])})
            continue
        on = dt.date(year + 1, 1, 1)
        balance = book_on(state, on, parameters).balances[PUBLIC]
        result = entitlement(year, public_facts(state, year), parameters, frozen=frozen_on(state),
                             step_balance=balance)
        if result is not None:
            rows.append({"year": year, "settled_on": None, "entitled": result.amount,
                         "ceiling": ceiling(parameters, year, result.profile)})
    return {"frozen_on": state.public_frozen_on, "years": rows, "profiles": profiles}


def account_document(
    part: Mapping[str, Any],
    balance: int,
    held: int,
    as_of: dt.date,
    died_on: str | None,
    parameters: Parameters,
) -> dict[str, Any]:
    """`accounts.cpf_public` of the balance document."""
    year = as_of.year
    profile = "standard"
    for since, named in part.get("profiles", ()):
        if since <= year:
            profile = named
    closed = died_on is not None and as_of.isoformat() >= died_on
    frozen = part.get("frozen_on") is not None and as_of.isoformat() >= part["frozen_on"]
    pending = [] if closed else [
        {"year": row["year"], "cpf_public": format_hundredths(
            int(row["credited"]) if row["settled_on"] is not None else
            credit_after_ceiling(int(row["entitled"]), int(row["ceiling"]), balance)),
         "unit": HOURS}
        for row in part.get("years", ())
        if cpf_is_pending(int(row["year"]), row["settled_on"], as_of)
    ]
    return {
        "unit": HOURS,
        "balance": format_hundredths(balance),
        "ceiling": format_hundredths(ceiling(parameters, year, profile)),
        "held": format_hundredths(held),
        "available": format_hundredths(balance - held),
        "status": "closed" if closed else "frozen" if frozen else "open",
        "pending": pending,
    }


def cpf_is_pending(year: int, settled_on: str | None, as_of: dt.date) -> bool:
    return year <= as_of.year and (settled_on is None or settled_on > as_of.isoformat())


# Conversions between counters (§10.4).


@dataclass(frozen=True, slots=True)
class Conversion:
    direction: str
    debited: int  # in the source unit (cents or hundredths)
    credited: int  # in the target unit
    limited_by: list[str]


def _check_conversion(state: PersonState, data: Mapping[str, Any], on: dt.date,
                      context: Context) -> str:
    parameters = context.parameters
    if not parameters.flag("cpf_conversion_in_force", on):
        raise Rejected(Reason.FIELD_NOT_IN_FORCE,
                       f"conversions between counters start on 2020-01-01, not {on}")
    direction = str(data["direction"])
    allowed = (parameters.get("cpf_conversion_directions", on) or {}).get(
        str(data["principal_activity"]), [])
    if direction not in allowed:
        raise Rejected(Reason.CONVERSION_DIRECTION_NOT_ALLOWED,
                       f"a holder whose principal activity is {data['principal_activity']} "
                       f"may not convert {direction.replace('_', ' ')}")
    if is_closed_on(state, on):
        raise Rejected(Reason.ACCOUNT_CLOSED, "the account is closed (death)")
    if direction == EUROS_TO_HOURS and is_frozen_on(state, on):
        raise Rejected(Reason.ACCOUNT_FROZEN, "the CPF is frozen since full-rate retirement")
    if direction == HOURS_TO_EUROS and is_public_frozen_on(state, on):
        raise Rejected(Reason.ACCOUNT_FROZEN, "the public counter is frozen since retirement")
    request_id = str(data["request_id"])
    if any(p.get("request_id") == request_id for p in state.postings):
        raise Rejected(Reason.DUPLICATE_REQUEST, f"conversion {request_id} already exists")
    return direction


def conversion_budget_used(state: PersonState, on: dt.date, parameters: Parameters) -> int:
    """Hours converted from euros in the window of years ending on `on`."""
    years = int(parameters.get("cpf_conversion_budget_years", on))
    first = _years_before(on, years) + dt.timedelta(days=1)
    return sum(int(p["amount"]) for p in state.postings
               if p["account"] == PUBLIC and p["kind"] == CONVERSION_KIND and p["amount"] > 0
               and first.isoformat() <= p["on"] <= on.isoformat())


def _years_before(on: dt.date, years: int) -> dt.date:
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February
        return on.replace(year=on.year - years, day=28)


def _public_profile_on(state: PersonState, on: dt.date, parameters: Parameters) -> str:
    return profile_of(on.year, public_facts(state), parameters)


def quote_conversion(state: PersonState, data: Mapping[str, Any], context: Context
                     ) -> Conversion:
    """What a conversion request would move (pure; rejections raise)."""
    parameters = context.parameters
    on = day(str(data["requested_on"]))
    direction = _check_conversion(state, data, on, context)
    book = fold(state.postings, state.grants, FAR_FUTURE, parameters, track_from=on)
    asked = parse_hundredths(str(data["amount"])) if data.get("amount") else None
    rate = parameters.amount("cpf_conversion_eur_per_hour", on)  # cents per hour
    limits: list[str] = []
    if direction == EUROS_TO_HOURS:
        sources = parameters.get("cpf_conversion_source_buckets", on)
        available = sum(max(0, book.lowest_available(bucket)) for bucket in sources)
        euros = available if asked is None else min(asked, available)
        if asked is not None and asked > available:
            limits.append("balance")
        whole = (euros + rate // 2) // rate  # round half up, whole hours
        hours = whole * HUNDREDTHS_PER_HOUR
        profile = _public_profile_on(state, on, parameters)
        now = book_on(state, on, parameters).balances[PUBLIC]
        room = max(0, ceiling(parameters, on.year, profile) - now)
        budget = parameters.amount(f"cpf_conversion_budget_{profile}", on)
        budget_left = max(0, budget - conversion_budget_used(state, on, parameters))
        for name, bound in (("ceiling", room), ("six_year_budget", budget_left)):
            if hours > bound:
                hours = bound
                limits.append(name)
        debited = min(euros, hours * rate // HUNDREDTHS_PER_HOUR)
        return Conversion(direction, debited, hours, limits)
    available = max(0, book.lowest_available(PUBLIC))
    hours = available if asked is None else min(asked, available)
    if asked is not None and asked > available:
        limits.append("balance")
    euros = hours * rate // HUNDREDTHS_PER_HOUR
    profile = cpf.profile_of(on.year, state.facts, parameters)
    ceiling_eur, unit = cpf.ceiling(parameters, on.year, profile)
    assert unit == EUR
    statutory = statutory_balance(book_on(state, on, parameters), parameters)
    room = max(0, ceiling_eur - statutory)
    if euros > room:
        euros = room
        limits.append("ceiling")
    debited = min(hours, ceil_whole_hour(Fraction(euros * HUNDREDTHS_PER_HOUR, rate)))
    return Conversion(direction, debited, euros, limits)


def convert(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    """`cpf.conversion.requested`: debit one counter, credit the other, on requested_on."""
    data = incoming.data
    decided = quote_conversion(state, data, context)
    if decided.debited <= 0 or decided.credited <= 0:
        why = f" (limited by {', '.join(decided.limited_by)})" if decided.limited_by else ""
        raise Rejected(Reason.NOTHING_TO_CONVERT, f"nothing can be converted{why}")
    on = str(data["requested_on"])
    request_id = str(data["request_id"])
    if decided.direction == EUROS_TO_HOURS:
        source, source_unit, target, target_unit = "cpf", EUR, PUBLIC, HOURS
        text = (f"{format_hundredths(decided.debited)} EUR converted to "
                f"{format_hundredths(decided.credited)} h")
    else:
        source, source_unit, target, target_unit = PUBLIC, HOURS, "cpf", EUR
        text = (f"{format_hundredths(decided.debited)} h converted to "
                f"{format_hundredths(decided.credited)} EUR")
    memo = f"conversion {request_id}: {text}"
    changes: list[AnyChange] = [
        posting(incoming, on, source, -decided.debited, source_unit, CONVERSION_KIND,
                memo=memo, request_id=request_id),
        posting(incoming, on, target, decided.credited, target_unit, CONVERSION_KIND,
                memo=memo, request_id=request_id),
    ]
    limited = f", limited by {', '.join(decided.limited_by)}" if decided.limited_by else ""
    return Outcome(changes, [f"{memo}{limited}"])


# Retirement (§10.6).


def freezes_public(data: Mapping[str, Any], parameters: Parameters) -> bool:
    """Whether a `person.retired` freezes the public counter."""
    on = day(str(data["retired_on"]))
    if parameters.flag("cpf_public_frozen_by_any_retirement", on):
        return not data.get("invalidity", False)
    return bool(data.get("full_rate"))


__all__ = [
    "CONVERSION_KIND",
    "Conversion",
    "Entitlement",
    "account_document",
    "convert",
    "document_part",
    "entitlement",
    "freezes_public",
    "is_public_period",
    "quote_conversion",
    "settle",
]
