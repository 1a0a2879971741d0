"""The CLI's text output: the documents of the reads (balance, statement, explanation, quote,
outcome) in words and aligned columns. Pure functions from a document to lines; every amount is
followed by its unit, and nothing prints a Python repr."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

# Fields of an accrual explanation, in the order a reader follows the computation.
_EXPLANATION_FIELDS = (
    "facts", "hours_worked", "ratio", "self_employed_months", "profile", "profile_reasons",
    "parameters", "entitled", "ceiling", "balance", "posted_on", "entitled_posted", "credited",
    "note",
)
# Amounts of an explanation: in `unit` (the year's) or `posting_unit` (the posting's).
_IN_YEAR_UNIT = ("entitled",)
_IN_POSTING_UNIT = ("ceiling", "balance", "entitled_posted", "credited")
_UNITLESS_ACCOUNTS_WIDTH = 10  # the longest row name: cpf_public


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`1 person`, `2 persons`."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


def _words(value: Any) -> str:
    """A value of a document in words: lists joined, mappings as `name value`, no reprs."""
    if isinstance(value, list | tuple):
        return ", ".join(_words(item) for item in value) if value else "none"
    if isinstance(value, dict):
        return ", ".join(f"{name} {_words(item)}" for name, item in value.items()) or "none"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# Balance.


def balance(document: dict[str, Any]) -> list[str]:
    known = document.get("known_at")
    when = f"as known at {known}" if known else "everything known"
    arrears = " (in arrears)" if document["in_arrears"] else ""
    lines = [f"{document['person']}: balances as of {document['as_of']}, {when}: "
             f"{document['status']}{arrears}",
             f"  {'account':<{_UNITLESS_ACCOUNTS_WIDTH}} {'balance':>10}  {'unit':<6}  ceiling"]
    for name, account in document["accounts"].items():
        ceiling = f"  {account['ceiling']} {account['unit']}" if "ceiling" in account else ""
        lines.append(f"  {name:<{_UNITLESS_ACCOUNTS_WIDTH}} {account['balance']!s:>10}  "
                     f"{account['unit']:<6}{ceiling}".rstrip())
        lines.extend(_grant(grant, account["unit"]) for grant in account.get("grants", []))
    unit = document.get("unit") or document["accounts"]["cpf"]["unit"]
    lines.append(f"  {'held':<{_UNITLESS_ACCOUNTS_WIDTH}} {document['held']:>10}  {unit}")
    lines.append(f"  {'available':<{_UNITLESS_ACCOUNTS_WIDTH}} {document['available']:>10}  "
                 f"{unit}")
    for pending in document["pending"]:
        lines.append(f"  pending {pending['year']}: cpf {pending['cpf']} "
                     f"{pending.get('unit', unit)} (not credited yet)")
    for pending in document["accounts"].get("cpf_public", {}).get("pending", []):
        lines.append(f"  pending {pending['year']}: cpf_public {pending['cpf_public']} hours"
                     " (not credited yet)")
    return lines


def _grant(grant: dict[str, Any], unit: str) -> str:
    expiry = f", expires {grant['expires_on']}" if grant.get("expires_on") else ""
    return (f"    top-up {grant['grant_id']} ({grant['kind']}, {grant['funder_type']} "
            f"{grant['funder_id']}): {grant['amount']} {grant['amount_unit']} granted "
            f"{grant['granted_on']}, balance {grant['balance']} {unit}, {grant['status']}"
            f"{expiry}")


# Statement.


def statement(person: str, lines: list[dict[str, Any]]) -> list[str]:
    """A header, then one line per posting with the account's running balance in its unit."""
    if not lines:
        return [f"Statement of {person}: no postings"]
    out = [f"Statement of {person}, {lines[0]['on']} to {lines[-1]['on']}: "
           f"{plural(len(lines), 'posting')}, oldest first; balance is the account's running "
           "total in the line's unit",
           f"{'date':<10}  {'account':<7} {'amount':>10}  {'unit':<6} {'balance':>10}  "
           f"{'kind':<18} reference"]
    running: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        key = (line["account"], line["unit"])
        running[key] += Decimal(str(line["amount"]))
        total = running[key] if line["unit"] != "points" else int(running[key])
        out.append(f"{line['on']:<10}  {line['account']:<7} {line['amount']!s:>10}  "
                   f"{line['unit']:<6} {total!s:>10}  {line['kind']:<18} "
                   f"{_reference(line)}".rstrip())
    return out


def _reference(line: dict[str, Any]) -> str:
    parts = []
    if "order_id" in line:
        parts.append(f"order {line['order_id']}")
    if "grant_id" in line:
        parts.append(f"top-up {line['grant_id']}")
    if "bucket" in line and line["account"] == "held":
        parts.append(f"from {line['bucket']}")
    if "year" in line:
        parts.append(f"year {line['year']}")
    if "memo" in line and not parts:
        parts.append(str(line["memo"]))
    return ", ".join(parts)


# Explanation.


def explanation(document: dict[str, Any]) -> list[str]:
    result = document["result"]
    settlements = len(document["settlements"])
    status = document["status"]
    if status == "closed" and settlements > 1:
        status += f" ({plural(settlements - 1, 'regularisation')} after the close)"
    lines = [f"{document['person']}, year {document['year']}: {status}"]
    year_unit = result.get("unit", "")
    posting_unit = result.get("posting_unit", year_unit)
    for name in _EXPLANATION_FIELDS:
        if name not in result:
            continue
        value = _words(result[name])
        if name in _IN_YEAR_UNIT:
            value = f"{value} {year_unit}"
        elif name in _IN_POSTING_UNIT:
            value = f"{value} {posting_unit}"
        elif name == "facts":
            value = f"{plural(len(result[name]), 'fact')}: {value}" if result[name] else "none"
        lines.append(f"  {name.replace('_', ' ')}: {value}")
    return lines


# Quote, outcome.


def quote(document: dict[str, Any]) -> list[str]:
    unit = document["unit"]
    draws = ", ".join(
        f"{draw['grant_id'] or draw['bucket']} {draw['amount']} {unit}"
        for draw in document["draws"]) or "none"
    return [
        f"{document['person']}: an order for {document['certification']} on {document['on']}, "
        f"price {document['price']} {unit}",
        f"  funded        {document['funded']:>10} {unit}",
        f"  copay         {document['copay']:>10} {unit}"
        + (f" (waived: {_words(document['copay_waived_by'])})"
           if document.get("copay_waived_by") else ""),
        f"  out of pocket {document['out_of_pocket']:>10} {unit}",
        f"  drawn from: {draws}",
    ]


def outcome(document: dict[str, Any]) -> list[str]:
    reason = f" ({document['reason']})" if document["reason"] else ""
    lines = [f"{document['source']}/{document['message_id']}: {document['outcome']}{reason}"
             f" - {document['detail']}",
             f"  recorded at {document['recorded_at']}"
             + (f" via {document['channel']}" if document.get("channel") else "")]
    if document["repeats"]:
        lines.append(f"  received again {plural(len(document['repeats']), 'time')}")
    return lines
