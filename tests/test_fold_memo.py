"""The remembered fold (`ledger.rules.book.fold_remembered`) answers exactly what a fold of the
whole history answers, whatever order the postings arrive in and whatever days are asked."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.parameters import load as load_parameters
from ledger.rules.book import Book, FoldMemo, fold, fold_remembered

PARAMETERS = load_parameters()
FIRST_DAY = dt.date(2015, 1, 1)
DAYS = 12 * 366
GRANTS = ("g1", "g2")


@st.composite
def days(draw: st.DrawFn) -> str:
    return (FIRST_DAY + dt.timedelta(days=draw(st.integers(0, DAYS)))).isoformat()


@st.composite
def postings(draw: st.DrawFn) -> dict[str, Any]:
    account = draw(st.sampled_from(("cpf", "dif", "cec", "topups", "c2p", "held")))
    on = draw(days())
    unit = "points" if account == "c2p" else ("EUR" if on >= "2019-01-01" else "hours")
    line: dict[str, Any] = {"on": on, "account": account, "unit": unit, "kind": "test",
                            "amount": draw(st.integers(-5_000, 50_000))}
    if account in ("topups", "held"):
        line["grant_id"] = draw(st.sampled_from(GRANTS))
        if account == "held":
            line["bucket"] = "topups"
    return line


@st.composite
def grants(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    return {grant_id: {"grant_id": grant_id, "expires_on": draw(st.none() | days()),
                       "refundable": draw(st.booleans())} for grant_id in GRANTS}


def _view(book: Book) -> dict[str, Any]:
    return asdict(book)


@settings(max_examples=150, deadline=None)
@given(st.lists(postings(), max_size=25), grants(), st.lists(days(), min_size=1, max_size=25),
       st.booleans())
def test_remembered_fold_equals_the_whole_fold(
    lines: list[dict[str, Any]], definitions: dict[str, dict[str, Any]], asked: list[str],
    in_date_order: bool,
) -> None:
    if in_date_order:
        lines = sorted(lines, key=lambda line: line["on"])
    memo: FoldMemo | None = None
    for count in range(len(lines) + 1):
        known = lines[:count]
        as_of = dt.date.fromisoformat(asked[count % len(asked)])
        if in_date_order and known:
            as_of = max(as_of, dt.date.fromisoformat(known[-1]["on"]))
        book, memo = fold_remembered(known, definitions, as_of, PARAMETERS, memo)
        assert _view(book) == _view(fold(known, definitions, as_of, PARAMETERS))


def test_postings_in_date_order_go_on_from_the_memo() -> None:
    """The memo is kept (not rebuilt) while postings arrive in date order: what makes a
    fold's cost independent of the history's length."""
    lines = [{"on": f"{year}-03-01", "account": "cpf", "unit": "EUR", "kind": "test",
              "amount": 100} for year in range(2019, 2026)]
    memo: FoldMemo | None = None
    for count in range(1, len(lines) + 1):
        as_of = dt.date(2019 + count, 1, 1)
        book, kept = fold_remembered(lines[:count], {}, as_of, PARAMETERS, memo)
        assert kept is not None and (memo is None or kept is memo)
        assert kept.count == count and book.balances["cpf"] == 100 * count
        memo = kept
