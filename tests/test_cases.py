"""The rulebook's worked examples, kept as data under tests/cases/*.json, run end to end:
messages are ingested through the same code as every channel, then balances, outcomes, quotes
and explanations are checked."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.rules import orders
from ledger.rules.common import Context
from projections.reader import Reader
from tests.backends import Ledgers
from tests.support import Feed, identifier, ingest

CASES = sorted((Path(__file__).parent / "cases").glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_case(ledgers: Ledgers, path: Path) -> None:
    case = _load(path)
    ledger = ledgers.new()
    feed = Feed(prefix=f"{path.stem}-")
    try:
        for number, step in enumerate(case["steps"], start=1):
            _run_step(ledger, feed, step, f"{path.stem} step {number}")
    finally:
        ledger.close()


def test_cases_exist() -> None:
    assert len(CASES) >= 20


def _run_step(ledger: Ledger, feed: Feed, step: dict[str, Any], where: str) -> None:
    if "ingest" in step:
        _ingest_step(ledger, feed, step["ingest"], where)
    elif "balance" in step:
        _balance_step(ledger, step["balance"], step["expect"], where)
    elif "quote" in step:
        _quote_step(ledger, step["quote"], step["expect"], where)
    elif "outcome" in step:
        _outcome_step(ledger, step["outcome"], step["expect"], where)
    elif "explain" in step:
        _explain_step(ledger, step["explain"], step["expect"], where)
    else:
        raise AssertionError(f"{where}: unknown step {sorted(step)}")


def _message(feed: Feed, spec: dict[str, Any]) -> dict[str, Any]:
    if spec["type"] == "accrual.year.closed":
        return feed.message(spec["type"], spec["data"], person=None, message_id=spec.get("id"),
                            published=spec.get("published", spec["data"]["credited_on"]))
    return feed.message(
        spec["type"],
        spec["data"],
        person=spec.get("person", "A"),
        published=spec.get("published", "2020-01-15"),
        source=spec.get("source"),
        message_id=spec.get("id"),
        supersedes=spec.get("supersedes"),
    )


def _ingest_step(ledger: Ledger, feed: Feed, specs: list[dict[str, Any]], where: str) -> None:
    results = ingest(ledger, [_message(feed, spec) for spec in specs])
    for spec, result in zip(specs, results, strict=True):
        expected = spec.get("expect", "accepted")
        got = result.outcome if result.reason is None else f"{result.outcome}:{result.reason}"
        assert got == expected, f"{where}: {spec.get('id') or spec['type']}: {got} " \
                                f"({result.detail})"


def _balance_step(
    ledger: Ledger, query: dict[str, Any], expect: dict[str, Any], where: str
) -> None:
    known_at = dt.datetime.fromisoformat(query["known_at"]) if "known_at" in query else None
    document = Reader(ledger).balance(identifier(query.get("person", "A")),
                                      dt.date.fromisoformat(query["as_of"]), known_at)
    for name, value in expect.items():
        assert _field(document, name) == value, f"{where}: {name} in {document}"


def _path(document: Any, name: str) -> Any:
    """A dotted path into a document ("accounts.cpf_public.held", "cpf_public.share")."""
    for part in name.split("."):
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def _field(document: dict[str, Any], name: str) -> Any:
    if "." in name and not name.startswith("grant:"):
        return _path(document, name)
    accounts = document["accounts"]
    if name in accounts:
        return accounts[name]["balance"]
    if name == "unit":
        return accounts["cpf"]["unit"]
    if name.startswith("grant:"):
        grant_id, _, field = name[6:].partition(".")
        grants = {grant["grant_id"]: grant for grant in accounts["topups"]["grants"]}
        return grants[grant_id][field]
    if name.endswith("_ceiling"):
        return accounts[name.removesuffix("_ceiling")]["ceiling"]
    return document[name]


def _quote_step(
    ledger: Ledger, query: dict[str, Any], expect: dict[str, Any], where: str
) -> None:
    view = Reader(ledger).view(identifier(query.get("person", "A")))
    assert view.state is not None, f"{where}: unknown person"
    context = Context(ledger.parameters, ledger.closed_years())
    document = orders.quote(view.state, query["data"], context).as_document()
    for name, value in expect.items():
        assert document[name] == value, f"{where}: {name} in {document}"


def _outcome_step(
    ledger: Ledger, query: dict[str, Any], expect: dict[str, Any], where: str
) -> None:
    document = Reader(ledger).message(query["source"], query["message_id"])
    for name, value in expect.items():
        assert document[name] == value, f"{where}: {name} in {document}"


def _explain_step(
    ledger: Ledger, query: dict[str, Any], expect: dict[str, Any], where: str
) -> None:
    document = Reader(ledger).explain(identifier(query.get("person", "A")), query["year"])
    result = document["result"]
    for name, value in expect.items():
        got = document[name] if name in document else _path(result, name)
        assert got == value, f"{where}: {name} in {document}"
