"""Read models of the embedded default, computed in-process from the recorded events:
balances as of a date and as known at a time, the statement, accrual explanations and
message outcomes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from ledger import limits
from ledger.application import Ledger
from ledger.changes import YearSettled
from ledger.domain import PersonAccount
from ledger.identity import aggregate_id, normalise
from ledger.money import format_hundredths
from ledger.rules import accrual, cpf, public
from ledger.rules.book import MONEY_ACCOUNTS, PUBLIC, Book, GrantView, fold, unit_on
from ledger.rules.common import FAR_FUTURE, Context, day
from ledger.state import PersonState, Posting


class UnknownMessage(LookupError):
    """No outcome is recorded for that (source, message_id)."""


@dataclass(frozen=True, slots=True)
class View:
    """A person's state as known at some time (None: never heard of)."""

    identifier: str
    person_key: str
    state: PersonState | None


class Reader:
    """Queries over one ledger's store."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.parameters = ledger.parameters

    # Loading.

    def view(self, identifier: str, known_at: dt.datetime | None = None) -> View:
        """The person's account as known at `known_at` (now when None), following merges."""
        identifier = normalise(identifier)
        key = self.ledger.person_key(identifier)
        for _ in range(limits.MERGE_CHAIN_LENGTH_MAX):
            account = self._account(key, known_at)
            if account is None or account.state.merged_into is None:
                return View(identifier, key, None if account is None else account.state)
            key = account.state.merged_into
        raise RuntimeError("merge chain too long")

    def _account(self, key: str, known_at: dt.datetime | None) -> PersonAccount | None:
        if known_at is None:
            try:
                account: object = self.ledger.app.repository.get(aggregate_id(key))
            except AggregateNotFoundError:
                return None
            assert isinstance(account, PersonAccount)
            return account
        return self._replayed(key, known_at)

    def _replayed(self, key: str, known_at: dt.datetime) -> PersonAccount | None:
        aggregate: Any = None
        for event in self.ledger.app.events.get(aggregate_id(key)):
            if getattr(event, "timestamp") > known_at:  # noqa: B009 (protocol lacks it)
                break
            aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
        return aggregate if isinstance(aggregate, PersonAccount) else None

    def events(self, identifier: str) -> Iterator[Any]:
        view = self.view(identifier)
        yield from self.ledger.app.events.get(aggregate_id(view.person_key))

    # Balances.

    def balance(
        self, identifier: str, as_of: dt.date, known_at: dt.datetime | None = None
    ) -> dict[str, Any]:
        """The balance document of interfaces.md §3."""
        view = self.view(identifier, known_at)
        state = view.state or PersonState(person_key=view.person_key)
        book = fold(state.postings, state.grants, as_of, self.parameters)
        context = Context(self.parameters, self.ledger.closed_years())
        balances = {name: book.balances[name] for name in MONEY_ACCOUNTS}
        held = book.held_total()
        return {
            "person": view.identifier,
            "as_of": as_of.isoformat(),
            "known_at": None if known_at is None else known_at.isoformat(),
            "status": _status(state, as_of),
            "in_arrears": balances["cpf"] < 0 or book.balances[PUBLIC] < 0,
            "accounts": self._accounts(state, book, as_of),
            "held": format_hundredths(held),
            "available": format_hundredths(sum(balances.values()) - held),
            "unit": book.unit,
            "pending": [
                {"year": year, "cpf": format_hundredths(
                    accrual.shown_in(self.parameters, amount, unit, book.unit)),
                 "unit": book.unit}
                for year, amount, unit in accrual.pending(state, as_of, context)
            ],
        }

    def _accounts(self, state: PersonState, book: Book, as_of: dt.date) -> dict[str, Any]:
        unit = book.unit
        money = {name: format_hundredths(book.balances[name]) for name in MONEY_ACCOUNTS}
        return {
            "cpf": {"unit": unit, "balance": money["cpf"],
                    "ceiling": format_hundredths(self._cpf_ceiling(state, as_of))},
            "dif": {"unit": unit, "balance": money["dif"]},
            "cec": {"unit": unit, "balance": money["cec"],
                    "ceiling": format_hundredths(self._cec_ceiling(as_of))},
            "topups": {"unit": unit, "balance": money["topups"],
                       "grants": self._grants(state, book, as_of)},
            "c2p": {"unit": "points", "balance": book.points},
            PUBLIC: public.account_document(
                public.document_part(state, self.parameters), book.balances[PUBLIC],
                book.held.get(PUBLIC, 0), as_of, state.died_on, self.parameters),
        }

    def _cpf_ceiling(self, state: PersonState, as_of: dt.date) -> int:
        year = max(as_of.year, 2015)
        profile = cpf.profile_of(year, state.facts_for_year(year, cpf.STATUS_FACT_TYPES),
                                 self.parameters)
        amount, _ = cpf.ceiling(self.parameters, year, profile)
        return amount

    def _cec_ceiling(self, as_of: dt.date) -> int:
        value = self.parameters.find("cec_ceiling", max(as_of, dt.date(2017, 1, 1)))
        return int(value or 0)

    def _grants(self, state: PersonState, book: Book, as_of: dt.date) -> list[dict[str, Any]]:
        rows = []
        for grant_id, grant in sorted(state.grants.items()):
            if day(grant["granted_on"]) > as_of:
                continue
            view = book.grants.get(grant_id) or GrantView(grant_id)
            rows.append(_grant_document(grant, view))
        return rows

    # Statement.

    def statement(
        self, identifier: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[dict[str, Any]]:
        """Postings oldest first, with the derived conversion and expiry lines."""
        view = self.view(identifier)
        if view.state is None:
            return []
        lines = self.lines(view.state, end or FAR_FUTURE)
        first = (start or dt.date.min).isoformat()
        return [_line_document(line) for line in lines if line["on"] >= first]

    def lines(self, state: PersonState, end: dt.date) -> list[Posting]:
        book = fold(state.postings, state.grants, end, self.parameters)
        recorded = [p for p in state.postings if p["on"] <= end.isoformat()]
        return sorted([*recorded, *book.derived], key=_line_order)

    # Explanations.

    def explain(self, identifier: str, year: int) -> dict[str, Any]:
        """How year N was computed: every settlement (close and regularisations), or the
        pending computation when the year is not closed."""
        view = self.view(identifier)
        settlements = [
            change.explanation
            for event in self._all_events(view)
            for change in getattr(event, "changes", ())
            if isinstance(change, YearSettled) and change.year == year
        ]
        if settlements:
            return {"person": view.identifier, "year": year, "status": "closed",
                    "settlements": settlements, "result": settlements[-1]}
        state = view.state or PersonState(person_key=view.person_key)
        if year in self.ledger.closed_years() and year not in accrual.years_with_facts(state):
            return closed_without_facts(view.identifier, year, self.parameters)
        return self._pending_explanation(view, year)

    def _all_events(self, view: View) -> Iterator[Any]:
        if view.state is None:
            return iter(())
        keys = [view.person_key, *view.state.absorbed]
        events = [event for key in keys for event in self.ledger.app.events.get(aggregate_id(key))]
        return iter(sorted(events, key=lambda event: getattr(event, "timestamp")))  # noqa: B009

    def _pending_explanation(self, view: View, year: int) -> dict[str, Any]:
        state = view.state or PersonState(person_key=view.person_key)
        on = dt.date(year + 1, 1, 1)
        context = Context(self.parameters, self.ledger.closed_years())
        result, entitled, ceiling_amount, balance, unit = accrual.compute(state, year, on, context)
        explanation = dict(result.explanation)
        explanation.update({
            "posting_unit": unit,
            "ceiling": format_hundredths(ceiling_amount),
            "balance": format_hundredths(balance),
            "credited": format_hundredths(cpf.credit_after_ceiling(entitled, ceiling_amount,
                                                                   balance)),
            "note": "not closed yet: computed as if closed on " + on.isoformat(),
        })
        return {"person": view.identifier, "year": year, "status": "pending",
                "settlements": [], "result": explanation}

    # Outcomes.

    def message(self, source: str, message_id: str) -> dict[str, Any]:
        recorder = self.ledger.app.ledger_recorder
        receipt = recorder.select_receipts([(source, message_id)]).get((source, message_id))
        if receipt is None:
            raise UnknownMessage(f"no outcome recorded for {source}/{message_id}")
        repeats = recorder.select_repeats(source, message_id)
        return {
            "source": source,
            "message_id": message_id,
            "outcome": receipt.outcome,
            "reason": receipt.reason,
            "detail": receipt.detail,
            "type": receipt.message_type,
            "recorded_at": receipt.recorded_at,
            "channel": receipt.channel,
            "repeats": [
                {"outcome": r.outcome, "reason": r.reason, "detail": r.detail,
                 "recorded_at": r.recorded_at, "channel": r.channel}
                for r in repeats
            ],
        }


def closed_without_facts(identifier: str, year: int, parameters: Any) -> dict[str, Any]:
    """The explanation of a closed year in which the person has no facts: nothing credited."""
    unit = unit_on(parameters, dt.date(year + 1, 1, 1))
    return {"person": identifier, "year": year, "status": "closed", "settlements": [],
            "result": {"year": year, "unit": unit, "facts": [], "posting_unit": unit,
                       "credited": format_hundredths(0),
                       "note": f"year {year} is closed; no facts of this person in it, so"
                               " nothing was credited for it"}}


def _status(state: PersonState, as_of: dt.date) -> str:
    if state.died_on is not None and as_of >= day(state.died_on):
        return "closed"
    if state.retired_on is not None and as_of >= day(state.retired_on):
        return "frozen"
    return "open"


def _grant_document(grant: dict[str, Any], view: GrantView) -> dict[str, Any]:
    status = view.closed_as or "active"
    return {
        "grant_id": grant["grant_id"],
        "kind": grant["kind"],
        "funder_type": grant["funder_type"],
        "funder_id": grant["funder_id"],
        "granted_on": grant["granted_on"],
        "amount": format_hundredths(grant["amount"]),
        "amount_unit": grant["unit"],
        "balance": format_hundredths(view.balance),
        "held": format_hundredths(view.held),
        "earmarked_certifications": grant.get("earmarked_certifications") or [],
        "expires_on": grant.get("expires_on"),
        "refundable": bool(grant.get("refundable")),
        "status": status if view.closed_on else "active",
        "closed_amount": format_hundredths(view.closed_amount),
        "refunded_to_funder": format_hundredths(
            view.closed_amount if grant.get("refundable") and status == "expired" else 0
        ),
    }


def _line_order(line: Posting) -> tuple[str, int]:
    # Derived lines (conversion, expiry) come before the postings of their day.
    return (line["on"], 0 if line["kind"] in ("conversion", "expired", "withdrawn") else 1)


def _line_document(line: Posting) -> dict[str, Any]:
    amount = line["amount"]
    unit = line["unit"]
    document = {
        "on": line["on"],
        "account": line["account"],
        "amount": amount if unit == "points" else format_hundredths(amount),
        "unit": unit,
        "kind": line["kind"],
    }
    for name in ("bucket", "memo", "year", "order_id", "grant_id", "source", "message_id",
                 "recorded_at"):
        if line.get(name) is not None:
            document[name] = line[name]
    return document


__all__ = ["Reader", "UnknownMessage", "View", "closed_without_facts"]
