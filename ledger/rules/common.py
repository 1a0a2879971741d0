"""Shapes shared by the rule modules: the decision context, rejections, posting builders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.changes import AnyChange, Posted
from ledger.outcomes import Reason
from ledger.parameters import Parameters
from ledger.rules.book import Book, fold_remembered, restored_fold
from ledger.state import PersonState, Posting

FAR_FUTURE = dt.date(9000, 1, 1)  # far enough, and still +1 day safe


class Rejected(Exception):
    """An expected refusal of a message, with a machine-readable reason code."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Context:
    """What a decision may read besides the person's state: the rulebook and the calendar of
    closed years (year -> credited_on)."""

    parameters: Parameters
    closed_years: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Incoming:
    """The message being decided, as the rules see it."""

    source: str
    message_id: str
    type: str
    published_on: str
    data: Mapping[str, Any]
    supersedes: str | None = None

    @property
    def key(self) -> str:
        return f"{self.source}/{self.message_id}"


@dataclass(slots=True)
class Outcome:
    """Changes decided for one step, and the human notes explaining them."""

    changes: list[AnyChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def extend(self, other: Outcome) -> None:
        self.changes.extend(other.changes)
        self.notes.extend(other.notes)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def posting(
    incoming: Incoming,
    on: str,
    account: str,
    amount: int,
    unit: str,
    kind: str,
    **extra: Any,
) -> Posted:
    """A `posted` change: one statement line."""
    line: Posting = {
        "on": on,
        "account": account,
        "amount": amount,
        "unit": unit,
        "kind": kind,
        "source": incoming.source,
        "message_id": incoming.message_id,
    }
    line.update({name: value for name, value in extra.items() if value is not None})
    return Posted(posting=line)


def book_on(state: PersonState, on: dt.date, parameters: Parameters) -> Book:
    """The person's balances as of `on`, going on from the state's last fold when it can (or
    from the one its snapshot kept)."""
    memo = state.fold_memo
    if memo is None and (stored := state.take_fold_checkpoint()) is not None:
        memo = restored_fold(stored, state.grants, parameters)
    book, state.fold_memo = fold_remembered(state.postings, state.grants, on, parameters, memo)
    return book


def statutory_balance(book: Book, parameters: Parameters) -> int:
    """cpf, plus dif only when the rulebook counts it toward the ceiling."""
    include_dif = parameters.flag("dif_counts_toward_ceiling", book.as_of)
    return book.balances["cpf"] + (book.balances["dif"] if include_dif else 0)


def is_closed_on(state: PersonState, on: dt.date) -> bool:
    return state.died_on is not None and on >= day(state.died_on)


def is_frozen_on(state: PersonState, on: dt.date) -> bool:
    return state.retired_on is not None and on >= day(state.retired_on)


def later(first: str, second: str | None) -> str:
    """The later of two ISO dates (a correction is never dated before what it corrects)."""
    return first if second is None or first >= second else second
