"""Settling an acquisition year: the close (§3) and the regularisation of late facts (§3.6)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ledger.changes import YearSettled
from ledger.money import format_hundredths
from ledger.parameters import Parameters
from ledger.rules import cpf, public
from ledger.rules.book import EUR, HOURS, in_unit, unit_on
from ledger.rules.common import (
    Context,
    Incoming,
    Outcome,
    book_on,
    day,
    is_closed_on,
    later,
    posting,
    statutory_balance,
)
from ledger.state import PersonState


def years_with_facts(state: PersonState) -> set[int]:
    return state.accrual_years()


def _retired_on(state: PersonState) -> dt.date | None:
    return day(state.retired_on) if state.retired_on else None


def compute(
    state: PersonState, year: int, on: dt.date, context: Context, *, with_balance: bool = True,
    with_public: bool = True,
) -> tuple[cpf.Entitlement, int, int, int, str]:
    """(entitlement, entitled and ceiling in the posting unit, statutory balance, unit).
    Without `with_balance`, the balance (a fold over the person's postings) is computed only
    when the year's regime needs it (hours: the rate depends on it) and is 0 otherwise. With
    `with_public`, the explanation also tells the public counter's year (`cpf_public`)."""
    parameters = context.parameters
    needed = with_balance or parameters.get("cpf_unit", dt.date(year, 1, 1)) == HOURS
    balance = statutory_balance(book_on(state, on, parameters), parameters) if needed else 0
    unit = unit_on(parameters, on)
    result = cpf.entitlement(
        year,
        state.facts_for_year(year, cpf.STATUS_FACT_TYPES),
        parameters,
        retired_on=_retired_on(state),
        statutory_balance=balance,
        balance_unit=unit,
    )
    if with_public:
        public_detail = public.pending_explanation(state, year, on, context)
        if public_detail is not None:
            result.explanation["cpf_public"] = public_detail
    ceiling_amount, ceiling_unit = cpf.ceiling(parameters, year, result.profile)
    entitled = in_unit(parameters, "cpf", result.amount, result.unit, unit)
    ceiling_posted = in_unit(parameters, "cpf", ceiling_amount, ceiling_unit, unit)
    return result, entitled, ceiling_posted, balance, unit


def settle(
    state: PersonState, year: int, on: str, incoming: Incoming, context: Context
) -> Outcome:
    """Close year N for this person on `on`, or regularise it when already settled: the
    private CPF (§3), then the public counter (§10.3), whose explanation goes with the year's
    (`cpf_public`)."""
    outcome = _settle_private(state, year, on, incoming, context)
    public_outcome, public_detail = public.settle(state, year, on, incoming, context)
    if public_detail is not None:
        for change in outcome.changes:
            if isinstance(change, YearSettled) and change.explanation is not None:
                change.explanation["cpf_public"] = public_detail
    outcome.extend(public_outcome)
    return outcome


def _settle_private(
    state: PersonState, year: int, on: str, incoming: Incoming, context: Context
) -> Outcome:
    posted_on = day(on)
    result, entitled, ceiling_amount, balance, unit = compute(state, year, posted_on, context,
                                                              with_public=False)
    record = state.years.get(str(year))
    if is_closed_on(state, posted_on):
        return _settled(year, entitled, _previous(record, context, unit)[1], unit, on,
                        "account closed (death): nothing credited", result.explanation)
    if record is None:
        return _first(year, entitled, ceiling_amount, balance, unit, on, incoming, result)
    return _regularise(year, entitled, ceiling_amount, balance, unit, on, incoming, result,
                       _previous(record, context, unit))


def _previous(record: dict[str, Any] | None, context: Context, unit: str) -> tuple[int, int]:
    if record is None:
        return 0, 0
    convert = context.parameters
    return (
        in_unit(convert, "cpf", record["entitled"], record["unit"], unit),
        in_unit(convert, "cpf", record["credited"], record["unit"], unit),
    )


def _first(
    year: int,
    entitled: int,
    ceiling_amount: int,
    balance: int,
    unit: str,
    on: str,
    incoming: Incoming,
    result: cpf.Entitlement,
) -> Outcome:
    credit = cpf.credit_after_ceiling(entitled, ceiling_amount, balance)
    note = _ceiling_note(year, entitled, credit, ceiling_amount, balance, unit)
    outcome = _settled(year, entitled, credit, unit, on, note, result.explanation,
                       ceiling=ceiling_amount, balance=balance)
    if credit:
        outcome.changes.insert(0, posting(incoming, on, "cpf", credit, unit, "accrual", year=year))
    return outcome


def _regularise(
    year: int,
    entitled: int,
    ceiling_amount: int,
    balance: int,
    unit: str,
    on: str,
    incoming: Incoming,
    result: cpf.Entitlement,
    previous: tuple[int, int],
) -> Outcome:
    previous_entitled, previous_credited = previous
    delta = entitled - previous_entitled
    if delta > 0:
        change = min(delta, max(0, ceiling_amount - balance))
    else:
        change = -min(-delta, previous_credited)
    note = (f"year {year} regularised: entitled {format_hundredths(previous_entitled)} -> "
            f"{format_hundredths(entitled)} {unit}, posting {format_hundredths(change)} {unit}")
    outcome = _settled(year, entitled, previous_credited + change, unit, on, note,
                       result.explanation, ceiling=ceiling_amount, balance=balance)
    if change:
        outcome.changes.insert(
            0, posting(incoming, on, "cpf", change, unit, "regularisation", year=year,
                       memo=f"regularisation of {year}: {incoming.type}"),
        )
    return outcome


def _ceiling_note(
    year: int, entitled: int, credit: int, ceiling_amount: int, balance: int, unit: str
) -> str:
    text = f"year {year}: entitled {format_hundredths(entitled)} {unit}"
    if credit < entitled:
        text += (f", limited by the ceiling {format_hundredths(ceiling_amount)} {unit} "
                 f"(balance {format_hundredths(balance)} {unit})")
    return f"{text}, credited {format_hundredths(credit)} {unit}"


def _settled(
    year: int,
    entitled: int,
    credited: int,
    unit: str,
    on: str,
    note: str,
    explanation: dict[str, Any],
    **extra: int,
) -> Outcome:
    detail = dict(explanation)
    detail.update({name: format_hundredths(value) for name, value in extra.items()})
    detail.update({"posted_on": on, "posting_unit": unit,
                   "entitled_posted": format_hundredths(entitled),
                   "credited": format_hundredths(credited), "note": note})
    change = YearSettled(year=year, entitled=entitled, credited=credited, unit=unit,
                         settled_on=on, explanation=detail)
    return Outcome([change], [note])


def regularise_closed(
    state: PersonState, years: set[int], incoming: Incoming, context: Context
) -> Outcome:
    """Recompute every touched year that is already closed (rules §3.6), dated the triggering
    message's publication (never before the year's own settlement)."""
    outcome = Outcome()
    for year in sorted(years):
        if year in context.closed_years:
            record = state.years.get(str(year))
            settled_on = record["settled_on"] if record else context.closed_years[year]
            on = later(incoming.published_on, settled_on)
            outcome.extend(settle(state, year, on, incoming, context))
    return outcome


def pending_entitlement(
    state: PersonState, year: int, context: Context
) -> tuple[int, int, str, dict[str, Any]]:
    """An open year's entitlement as if closed at the start of the next year: (entitled,
    ceiling, unit, explanation). The room left under the ceiling is applied by `pending`."""
    on = dt.date(year + 1, 1, 1)
    result, entitled, ceiling_amount, _, unit = compute(state, year, on, context,
                                                        with_balance=False)
    return entitled, ceiling_amount, unit, result.explanation


def pending_rate_band(state: PersonState, year: int, context: Context) -> str:
    """The rate band `pending_entitlement` reads for an hours-regime year, from the balance
    of the day it computes on (the remembered fold: cheaper than the entitlement)."""
    parameters = context.parameters
    on = dt.date(year + 1, 1, 1)
    balance = statutory_balance(book_on(state, on, parameters), parameters)
    return cpf.hours_rate_band(parameters, dt.date(year, 1, 1), balance, unit_on(parameters, on))


def pending_credit(entitled: int, ceiling_amount: int, unit: str, balance: int,
                   balance_unit: str) -> int:
    """What an open year would credit now, given the statutory balance of the day."""
    if unit != balance_unit:
        return entitled
    return cpf.credit_after_ceiling(entitled, ceiling_amount, balance)


def is_pending(year: int, settled_on: str | None, as_of: dt.date) -> bool:
    """A year with facts is pending until its credit is posted: not settled yet, or settled
    with a crediting date after `as_of` (the close message may arrive before that date)."""
    return year <= as_of.year and (settled_on is None or settled_on > as_of.isoformat())


def shown_in(parameters: Parameters, amount: int, unit: str, target: str) -> int:
    """A pending CPF amount in the unit of the balance document it appears in: a year computed
    in hours, pending as of a day from the euro switch, converts at the 2019 rate; a year whose
    credit is in euros (its close falls after the switch), pending as of a day before it, shows
    the hours it stands for (the same rate back, rounded half up to the hundredth)."""
    if unit == EUR and target == HOURS:
        rate_cents = in_unit(parameters, "cpf", 100, HOURS, EUR)
        return (amount * 100 * 2 + rate_cents) // (2 * rate_cents)
    return in_unit(parameters, "cpf", amount, unit, target)


def pending(state: PersonState, as_of: dt.date, context: Context) -> list[tuple[int, int, str]]:
    """Pending years: (year, what it credits or would credit, unit). Use `shown_in` to put the
    amount in a document's unit."""
    rows: list[tuple[int, int, str]] = []
    if is_closed_on(state, as_of):
        return rows
    balance = statutory_balance(book_on(state, as_of, context.parameters), context.parameters)
    balance_unit = unit_on(context.parameters, as_of)
    for year in sorted(years_with_facts(state)):
        record = state.years.get(str(year))
        if not is_pending(year, record["settled_on"] if record else None, as_of):
            continue
        if record is not None:
            rows.append((year, int(record["credited"]), str(record["unit"])))
            continue
        entitled, ceiling_amount, unit, _ = pending_entitlement(state, year, context)
        rows.append((year, pending_credit(entitled, ceiling_amount, unit, balance,
                                          balance_unit), unit))
    return rows
