"""Training orders (rules.md §7): copay, funded amount, draw order, holds and their life."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.changes import AnyChange, OrderPlaced, OrderUpdated
from ledger.money import format_hundredths, parse_hundredths
from ledger.outcomes import Reason
from ledger.parameters import Parameters
from ledger.rules.book import EUR, HOURS, PUBLIC, Book, euro_from, fold, in_unit, unit_on
from ledger.rules.common import (
    FAR_FUTURE,
    Context,
    Incoming,
    Outcome,
    Rejected,
    day,
    is_closed_on,
    is_frozen_on,
    posting,
)
from ledger.state import HELD, PersonState

JOBSEEKER_TYPE = "jobseeker.registered"


@dataclass(slots=True)
class Quote:
    """What an order gets: the decision without recording anything."""

    price: int
    unit: str
    copay: int
    funded: int
    out_of_pocket: int
    draws: list[dict[str, Any]] = field(default_factory=list)
    waived_by: str | None = None

    def as_document(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "price": format_hundredths(self.price),
            "copay": format_hundredths(self.copay),
            "funded": format_hundredths(self.funded),
            "out_of_pocket": format_hundredths(self.out_of_pocket),
            "copay_waived_by": self.waived_by,
            "draws": [
                {"bucket": d["bucket"], "grant_id": d.get("grant_id"),
                 "amount": format_hundredths(d["amount"])}
                for d in self.draws
            ],
        }


def _order_unit(incoming_data: Mapping[str, Any], on: dt.date, parameters: Parameters) -> str:
    expected = unit_on(parameters, on)
    given = EUR if "price_eur" in incoming_data else HOURS
    if given != expected:
        name = "price_eur" if given == EUR else "hours"
        raise Rejected(Reason.FIELD_NOT_IN_FORCE, f"data.{name} is not in force on {on}")
    return given


def _jobseeker_on(state: PersonState, on: dt.date) -> bool:
    for fact in state.facts_of_type(JOBSEEKER_TYPE):
        data = fact["data"]
        end = day(data["to"]) if data.get("to") else FAR_FUTURE
        if day(data["from"]) <= on <= end:
            return True
    return False


def _usable_grants(
    state: PersonState, certification: str, on: dt.date, earmarked: bool
) -> list[str]:
    """Grants usable for the certification on `on`, earliest expiry first."""
    rows = []
    for grant_id, grant in state.grants.items():
        marks = grant.get("earmarked_certifications") or []
        if earmarked != bool(marks) or (marks and certification not in marks):
            continue
        if day(grant["granted_on"]) > on:
            continue
        rows.append((grant.get("expires_on") or "9999-12-31", grant["granted_on"], grant_id))
    return [grant_id for *_, grant_id in sorted(rows)]


def _buckets(
    state: PersonState, order: Sequence[str], certification: str, on: dt.date, cec_only: bool
) -> list[str]:
    if cec_only:
        return ["cec"]
    buckets: list[str] = []
    for name in order:
        if name in ("earmarked", "topups"):
            grants = _usable_grants(state, certification, on, name == "earmarked")
            buckets.extend(f"grant:{grant_id}" for grant_id in grants)
        else:
            buckets.append(name)
    return buckets


def _draw(book: Book, buckets: Sequence[str], need: int) -> list[dict[str, Any]]:
    draws = []
    for bucket in buckets:
        if need <= 0:
            break
        amount = min(need, max(0, book.lowest_available(bucket)))
        if amount > 0:
            draw: dict[str, Any] = {"bucket": bucket, "amount": amount}
            if bucket.startswith("grant:"):
                draw = {"bucket": "topups", "grant_id": bucket[6:], "amount": amount}
            draws.append(draw)
            need -= amount
    return draws


def _waiving_grant(
    state: PersonState, draws: Sequence[Mapping[str, Any]], kinds: Any
) -> str | None:
    for draw in draws:
        grant_id = draw.get("grant_id")
        if grant_id and state.grants[grant_id]["kind"] in kinds:
            return str(grant_id)
    return None


def quote(state: PersonState, data: Mapping[str, Any], context: Context) -> Quote:
    """Decide what an order would get on its date (pure; rejections raise)."""
    parameters = context.parameters
    on = day(str(data["ordered_on"]))
    if data.get("regime") == "public":
        return _public_quote(state, data, on, parameters)
    unit = _order_unit(data, on, parameters)
    price = parse_hundredths(str(data["price_eur"] if unit == EUR else data["hours"]))
    cec_only = _check_account(state, on, bool(data.get("volunteer_training")))
    horizon = FAR_FUTURE if unit == EUR else euro_from(parameters) - dt.timedelta(days=1)
    book = fold(state.postings, state.grants, horizon, parameters, track_from=on)
    buckets = _buckets(state, parameters.get("order_draw_order", on),
                       str(data["certification"]), on, cec_only)
    return _price_out(state, on, unit, price, book, buckets, parameters)


def _public_quote(
    state: PersonState, data: Mapping[str, Any], on: dt.date, parameters: Parameters
) -> Quote:
    """A public agent's order (rules §10.5): hours from the public counter only, no copay;
    the employer's agreement is given before the order reaches the ledger."""
    if "price_eur" in data or "hours" not in data:
        raise Rejected(Reason.SCHEMA_VIOLATION,
                       "a public order gives data.hours, not data.price_eur")
    if is_closed_on(state, on):
        raise Rejected(Reason.ACCOUNT_CLOSED, "the account is closed (death)")
    if state.public_frozen_on is not None and on >= day(state.public_frozen_on):
        raise Rejected(Reason.ACCOUNT_FROZEN, "the public counter is frozen since retirement")
    price = parse_hundredths(str(data["hours"]))
    book = fold(state.postings, state.grants, FAR_FUTURE, parameters, track_from=on)
    buckets = list(parameters.get("order_public_draw_order", on))
    copay = min(price, parameters.amount("order_public_copay", on))
    draws = _draw(book, buckets, price - copay)
    funded = sum(d["amount"] for d in draws)
    return Quote(price, HOURS, copay, funded, price - funded, draws, None)


def _check_account(state: PersonState, on: dt.date, volunteer: bool) -> bool:
    """True when only CEC may fund the order (frozen account, volunteer training)."""
    if is_closed_on(state, on):
        raise Rejected(Reason.ACCOUNT_CLOSED, "the account is closed (death)")
    if is_frozen_on(state, on):
        if not volunteer:
            raise Rejected(Reason.ACCOUNT_FROZEN, "the CPF is frozen since full-rate retirement")
        return True
    return False


def _price_out(
    state: PersonState,
    on: dt.date,
    unit: str,
    price: int,
    book: Book,
    buckets: Sequence[str],
    parameters: Parameters,
) -> Quote:
    waiving_kinds = parameters.find("order_copay_waiving_topup_kinds", on) or ()
    full_draws = _draw(book, buckets, price)
    waived_by = "jobseeker" if _jobseeker_on(state, on) else None
    waived_by = waived_by or _waiving_grant(state, full_draws, waiving_kinds)
    copay = 0 if waived_by or unit == HOURS else min(price, parameters.amount("order_copay", on))
    draws = full_draws if copay == 0 else _draw(book, buckets, price - copay)
    funded = sum(d["amount"] for d in draws)
    return Quote(price, unit, copay, funded, price - funded, draws, waived_by)


def order(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    data = incoming.data
    order_id = str(data["order_id"])
    if order_id in state.orders:
        raise Rejected(Reason.DUPLICATE_ORDER, f"order {order_id} already exists")
    decided = quote(state, data, context)
    if decided.funded == 0 and decided.price > 0:
        raise Rejected(Reason.INSUFFICIENT_RIGHTS, "no rights available for this order")
    is_public = data.get("regime") == "public"
    if is_public and decided.out_of_pocket > 0:
        # Anticipation of the next years' public hours is not covered yet (rules §11).
        raise Rejected(Reason.INSUFFICIENT_RIGHTS,
                       f"{format_hundredths(decided.price)} h asked, "
                       f"{format_hundredths(decided.funded)} h on the public counter")
    on = str(data["ordered_on"])
    record = {"order_id": order_id, "status": "held", "ordered_on": on,
              "certification": data["certification"], "provider": data["provider"],
              "unit": decided.unit, "price": decided.price, "copay": decided.copay,
              "funded": decided.funded, "out_of_pocket": decided.out_of_pocket,
              "waived_by": decided.waived_by, "draws": decided.draws, "refunded": 0}
    if is_public:
        record["regime"] = "public"
    changes: list[AnyChange] = [OrderPlaced(order=record)]
    changes.extend(_hold_lines(incoming, decided.draws, on, decided.unit, 1, "hold", order_id))
    return Outcome(changes, [f"order {order_id}: funded {format_hundredths(decided.funded)}, "
                             f"copay {format_hundredths(decided.copay)}, out of pocket "
                             f"{format_hundredths(decided.out_of_pocket)} {decided.unit}"])


def _hold_lines(
    incoming: Incoming,
    draws: Sequence[Mapping[str, Any]],
    on: str,
    unit: str,
    sign: int,
    kind: str,
    order_id: str,
) -> list[AnyChange]:
    return [
        posting(incoming, on, HELD, sign * int(d["amount"]), unit, kind,
                bucket=d["bucket"], grant_id=d.get("grant_id"), order_id=order_id)
        for d in draws
    ]


def _open_order(
    state: PersonState, incoming: Incoming, status: str, on_field: str
) -> dict[str, Any]:
    order_id = str(incoming.data["order_id"])
    record = state.orders.get(order_id)
    if record is None:
        raise Rejected(Reason.UNKNOWN_ORDER, f"no order {order_id}")
    if record["status"] != status:
        raise Rejected(Reason.ORDER_NOT_OPEN, f"order {order_id} is {record['status']}")
    earliest = record.get("entered_on") or record["ordered_on"]
    if str(incoming.data[on_field]) < earliest:
        raise Rejected(Reason.INCONSISTENT_DATES, f"data.{on_field} is before {earliest}")
    if is_closed_on(state, day(str(incoming.data[on_field]))):
        raise Rejected(Reason.ACCOUNT_CLOSED, "the account is closed (death)")
    return record


def _converted_draws(
    draws: Sequence[Mapping[str, Any]], unit: str, on: str, parameters: Parameters
) -> tuple[list[dict[str, Any]], str]:
    """Hours holds released or debited on or after the euro switch move in EUR (the public
    counter's stay in hours)."""
    if all(d["bucket"] == PUBLIC for d in draws) and draws:
        return [dict(d) for d in draws], unit
    target = unit_on(parameters, day(on))
    converted = [
        {**d, "amount": in_unit(parameters, str(d["bucket"]), int(d["amount"]), unit, target)}
        for d in draws
    ]
    return converted, target


def enter(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    record = _open_order(state, incoming, "held", "entered_on")
    on = str(incoming.data["entered_on"])
    draws, unit = _converted_draws(record["draws"], record["unit"], on, context.parameters)
    changes = _hold_lines(incoming, draws, on, unit, -1, "hold_released", record["order_id"])
    changes.extend(
        posting(incoming, on, str(d["bucket"]), -int(d["amount"]), unit, "training_debit",
                grant_id=d.get("grant_id"), order_id=record["order_id"])
        for d in draws
    )
    changes.append(OrderUpdated(order_id=record["order_id"],
                                fields={"status": "entered", "entered_on": on}))
    return Outcome(changes, [f"order {record['order_id']} entered: holds become debits"])


def cancel(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    record = _open_order(state, incoming, "held", "cancelled_on")
    on = str(incoming.data["cancelled_on"])
    return _release(incoming, record, on, "cancelled", context)


def _release(
    incoming: Incoming, record: Mapping[str, Any], on: str, status: str, context: Context
) -> Outcome:
    draws, unit = _converted_draws(record["draws"], record["unit"], on, context.parameters)
    changes = _hold_lines(incoming, draws, on, unit, -1, "hold_released", record["order_id"])
    changes.append(OrderUpdated(order_id=record["order_id"],
                                fields={"status": status, f"{status}_on": on}))
    return Outcome(changes, [f"order {record['order_id']} {status}: holds released"])


def release_all(state: PersonState, incoming: Incoming, on: str, context: Context) -> Outcome:
    """Release every open hold (death closes the account)."""
    outcome = Outcome()
    for record in state.orders.values():
        if record["status"] == "held":
            outcome.extend(_release(incoming, record, on, "released", context))
    return outcome


def refund(state: PersonState, incoming: Incoming, context: Context) -> Outcome:
    record = _open_order(state, incoming, "entered", "refunded_on")
    on = str(incoming.data["refunded_on"])
    draws, unit = _converted_draws(record["draws"], record["unit"], on, context.parameters)
    total = sum(int(d["amount"]) for d in draws)
    done = in_unit(context.parameters, "cpf", int(record.get("refunded", 0)),
                   record.get("refunded_unit", record["unit"]), unit)
    asked = incoming.data.get("amount_eur")
    if asked and record.get("regime") == "public":
        raise Rejected(Reason.NOT_SUPPORTED,
                       "a public order is refunded in hours: give no amount_eur")
    amount = min(total - done, parse_hundredths(str(asked)) if asked else total - done)
    if amount <= 0:
        raise Rejected(Reason.NOTHING_TO_REFUND, f"order {record['order_id']} is fully refunded")
    changes = _refund_lines(incoming, draws, unit, on, amount, done)
    changes.append(OrderUpdated(order_id=record["order_id"],
                                fields={"refunded": done + amount, "refunded_unit": unit}))
    return Outcome(changes, [f"order {record['order_id']}: {format_hundredths(amount)} {unit} "
                             "credited back in reverse draw order"])


def _refund_lines(
    incoming: Incoming,
    draws: Sequence[Mapping[str, Any]],
    unit: str,
    on: str,
    amount: int,
    already: int,
) -> list[AnyChange]:
    """Credit back in reverse draw order, skipping what earlier refunds gave back."""
    lines: list[AnyChange] = []
    for draw in reversed(draws):
        skip = min(already, int(draw["amount"]))
        already -= skip
        part = min(amount, int(draw["amount"]) - skip)
        if part > 0:
            lines.append(posting(incoming, on, str(draw["bucket"]), part, unit, "training_refund",
                                 grant_id=draw.get("grant_id"),
                                 order_id=str(incoming.data["order_id"])))
            amount -= part
    return lines
