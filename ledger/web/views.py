"""What each page shows, gathered from the service the HTTP API uses (so the pages read the
same documents on SQLite and PostgreSQL): the balance document, the statement, the accrual
explanations, the audit trail and message outcomes; the career and the orders come from the
person's recorded facts (`LedgerService.events`, which the API's quote reads too).

Each function is synchronous: the page handlers run it in a worker thread.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ledger.http.problems import Problem
from ledger.http.service import LedgerService
from ledger.money import format_hundredths
from ledger.rules import accrual
from ledger.state import PersonState
from ledger.web import chart
from ledger.web.i18n import Words

BUCKETS = ("cpf", "dif", "cec", "topups", "c2p", "cpf_public")
CHART_YEARS_MAX = 30
_FACT_ORDER = ("employment.declared", "self_employment.declared", "jobseeker.registered",
               "disability.recognised", "qualification.declared", "civic_engagement.declared",
               "hardship.exposure.declared", "dif.registered")


def person_page(service: LedgerService, person: str, as_of: dt.date,
                known_at: dt.datetime | None, words: Words) -> dict[str, Any]:
    balance = service.balance(person, as_of, known_at)
    lines = service.reader.statement(person, None, as_of)
    view = service.events.view(person, known_at)
    state = view.state or PersonState(person_key=view.person_key)
    return {
        "person": balance["person"],
        "balance": balance,
        "buckets": _buckets(balance),
        "pending": _pending(balance),
        "holds": _holds(lines),
        "charts": _charts(service, person, as_of, known_at, lines, words),
        "career": _career(state, as_of),
        "withdrawn": sorted(state.inactive.items()),
        "accruals": _accruals(service, person, state, as_of, words),
        "orders": _orders(state, as_of),
        "grants": balance["accounts"]["topups"]["grants"],
    }


def _buckets(balance: dict[str, Any]) -> list[dict[str, Any]]:
    accounts = balance["accounts"]
    return [{"name": name, "balance": accounts[name]["balance"], "unit": accounts[name]["unit"],
             "ceiling": accounts[name].get("ceiling")} for name in BUCKETS if name in accounts]


def _pending(balance: dict[str, Any]) -> list[dict[str, Any]]:
    unit = balance["accounts"]["cpf"]["unit"]
    # Each pending year carries its own unit (an hours year pending on a euro date).
    return [{"year": row["year"], "amount": row["cpf"], "unit": row.get("unit", unit)}
            for row in balance["pending"]]


def _holds(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """What is held now, per order and bucket (holds less releases)."""
    held: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        if line["account"] == "held":
            key = (str(line.get("order_id", "")), str(line.get("bucket") or "topups"),
                   str(line["unit"]))
            held[key] += Decimal(line["amount"])
    return [{"order_id": order, "bucket": bucket, "unit": unit, "amount": f"{amount:.2f}"}
            for (order, bucket, unit), amount in sorted(held.items()) if amount]


def chart_dates(first_year: int | None, as_of: dt.date) -> list[dt.date]:
    """31 December of each year from the first year with a line up to the year before
    `as_of` (at most CHART_YEARS_MAX of them), then `as_of` itself."""
    if first_year is None:
        return [as_of]
    first_year = max(first_year, as_of.year - CHART_YEARS_MAX)
    ends = [dt.date(year, 12, 31) for year in range(first_year, as_of.year)]
    return [*[end for end in ends if end < as_of], as_of]


def _charts(service: LedgerService, person: str, as_of: dt.date, known_at: dt.datetime | None,
            lines: list[dict[str, Any]], words: Words) -> list[dict[str, Any]]:
    first = min((int(line["on"][:4]) for line in lines), default=None)
    points = []
    for on in chart_dates(first, as_of):
        document = service.balance(person, on, known_at)
        unit = document["accounts"]["cpf"]["unit"]
        points.append((chart.Point(on.isoformat(), document["available"], words.date(on)), unit))
    rendered = []
    for number, series in enumerate(chart.split_by_unit(points)):
        with_today = series.points[-1].on == as_of.isoformat()
        title = words("chart_caption" if with_today else "chart_caption_years",
                      day=words.date(as_of), unit=words.unit(series.unit))
        rendered.append({
            "unit": series.unit, "points": series.points, "title": title,
            "svg": chart.svg(series, title, lambda value, unit=series.unit:  # type: ignore[misc]
                             words.amount(value, unit), f"chart-{number}"),
        })
    return rendered


def _career(state: PersonState, as_of: dt.date) -> list[dict[str, Any]]:
    """The facts in force (employments, statuses, ...) and the person's own dates, oldest
    first."""
    rows = []
    for key, fact in state.facts.items():
        start, end = _period(fact["type"], fact["data"])
        if start and start > as_of.isoformat():
            continue
        rows.append({"key": key, "type": fact["type"], "start": start, "end": end,
                     "data": fact["data"]})
    for name, kind in (("retired_on", "retired"), ("died_on", "deceased")):
        on = getattr(state, name)
        if on is not None and on <= as_of.isoformat():
            rows.append({"key": None, "type": kind, "start": on, "end": None, "data": {}})
    order = {kind: number for number, kind in enumerate(_FACT_ORDER)}
    rows.sort(key=lambda row: (row["start"] or "", order.get(row["type"], 99), row["key"] or ""))
    return rows


def _period(kind: str, data: dict[str, Any]) -> tuple[str | None, str | None]:
    if "period_start" in data:
        return data["period_start"], data.get("period_end")
    if "from" in data:
        return data["from"], data.get("to")
    if kind in ("self_employment.declared", "civic_engagement.declared",
                "hardship.exposure.declared") and "year" in data:
        return f"{data['year']}-01-01", f"{data['year']}-12-31"
    for name in ("registered_on", "declared_on", "validated_on"):
        if name in data:
            return data[name], None
    return None, None


def _accruals(service: LedgerService, person: str, state: PersonState, as_of: dt.date,
              words: Words) -> list[dict[str, Any]]:
    years = sorted({*accrual.years_with_facts(state), *(int(y) for y in state.years)})
    explained = []
    for year in years:
        if year > as_of.year:
            continue
        try:
            document = service.accrual(person, year)
        except Problem:  # a year the rulebook does not cover is left out
            continue
        explained.append({"year": year, "status": document["status"],
                          "settlements": len(document["settlements"]),
                          "sentences": explain(document, words)})
    return explained


def explain(document: dict[str, Any], words: Words) -> list[str]:
    """A year's accrual in words, from its explanation document."""
    result = document["result"]
    unit = result.get("posting_unit") or result.get("unit")
    sentences = []
    if Decimal(result.get("hours_worked") or "0") > 0:
        sentences.append(words("why_worked", hours=words.number(result["hours_worked"]),
                               ratio=words.percent(result.get("ratio", "0"))))
    if result.get("self_employed_months"):
        sentences.append(words("why_self", months=result["self_employed_months"]))
    reasons = [words(f"reason_{reason}") for reason in result.get("profile_reasons", [])]
    if result.get("profile") == "enhanced" or reasons:
        sentences.append(words("why_profile_enhanced", reasons=", ".join(reasons)))
    elif result.get("profile"):
        sentences.append(words("why_profile_standard"))
    parameters = result.get("parameters") or {}
    if "rate_h" in parameters:
        sentences.append(words("why_rate_hours", rate=words.number(parameters["rate_h"]),
                               band=words(f"band_{parameters.get('rate_band', 'low')}"),
                               threshold=words.number(parameters.get("threshold_h", "0"))))
    elif "annual_amount_eur" in parameters:
        sentences.append(words("why_rate_eur",
                               amount=words.amount(parameters["annual_amount_eur"], "EUR"),
                               ratio=parameters.get("full_amount_ratio", "")))
    if "entitled" in result:
        sentences.append(words("why_entitled", entitled=words.amount(result["entitled"],
                                                                      result.get("unit"))))
    credited = result.get("credited")
    if document["status"] == "closed" and credited is not None:
        sentences.append(words("why_credited", credited=words.amount(credited, unit),
                               on=words.date(result.get("posted_on"))))
        entitled = result.get("entitled_posted", result.get("entitled"))
        if entitled is not None and Decimal(credited) < Decimal(entitled):
            sentences.append(words("why_limited", ceiling=words.amount(result["ceiling"], unit),
                                   balance=words.amount(result["balance"], unit)))
        if len(document["settlements"]) > 1:
            sentences.append(words("why_regularised", count=len(document["settlements"])))
    elif credited is not None:
        on = dt.date(int(document["year"]) + 1, 1, 1)
        sentences.append(words("why_pending", on=words.date(on),
                               credited=words.amount(credited, unit)))
    return sentences


def _orders(state: PersonState, as_of: dt.date) -> list[dict[str, Any]]:
    rows = []
    for order in sorted(state.orders.values(), key=lambda o: (o["ordered_on"], o["order_id"])):
        if order["ordered_on"] > as_of.isoformat():
            continue
        unit = order.get("unit", "EUR")
        rows.append({
            "order_id": order["order_id"], "certification": order.get("certification"),
            "provider": order.get("provider"), "ordered_on": order["ordered_on"],
            "status": order.get("status"), "unit": unit,
            "price": _hundredths(order.get("price")),
            "copay": _hundredths(order.get("copay")),
            "out_of_pocket": _hundredths(order.get("out_of_pocket")),
            "refunded": _hundredths(order.get("refunded")),
            "draws": [{"bucket": draw["bucket"], "grant_id": draw.get("grant_id"),
                       "amount": _hundredths(draw["amount"])} for draw in order.get("draws", [])],
            "dates": {name: order[name] for name in ("entered_on", "cancelled_on", "released_on")
                      if order.get(name)},
        })
    return rows


def _hundredths(value: Any) -> str:
    return format_hundredths(int(value or 0))


# Audit.

def audit_person_page(service: LedgerService, person: str, cursor: str | None,
                      limit: int) -> dict[str, Any]:
    return service.audit_events(person, cursor, limit)
