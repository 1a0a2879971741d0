"""GET /v1/persons/{person}/quote decides an order without recording it: the quote is what the
same training.ordered then gets, and asking changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

import schemas
from ledger import closing
from ledger.http.limits import READY_LAG_MAX_EVENTS_DEFAULT
from ledger.http.service import LedgerService
from tests.http import feeds
from tests.http.conformance import conforms
from tests.http.server import Server, problem_of
from tests.support import Feed, identifier, ingest, memory_ledger

PERSON = identifier("D")
NEWCOMER = identifier("E")
UNORDERED = identifier("A")  # the same rights as PERSON, and never orders
CERTIFICATION = "RNCP123"
ON = "2026-01-05"  # earmarked top-ups are drawn first from 2025-12-05
GRANTED_ON = "2025-05-01"  # earmarking is in force from 2025-04-17


@pytest.fixture(scope="module")
def loaded(server: Server) -> None:
    """2 000.00 EUR of CPF, a 300.00 top-up earmarked for CERTIFICATION and 200.00 general."""
    feed = Feed("quote")
    messages = [*feeds.closes(feed, range(2019, 2023))]
    for person in (PERSON, UNORDERED):
        messages[:0] = feeds.career(feed, person, range(2019, 2023))
        messages += [feeds.topup(feed, person, 1, "300.00", GRANTED_ON,
                                 earmarked_certifications=[CERTIFICATION]),
                     feeds.topup(feed, person, 2, "200.00", GRANTED_ON)]
    assert server.post(messages)["accepted"] == len(messages)
    server.project()


def _quote(client: httpx.Client, person: str, price: str, on: str = ON) -> httpx.Response:
    return client.get(f"/v1/persons/{person}/quote",
                      params={"certification": CERTIFICATION, "price_eur": price, "on": on})


def _holds(server: Server, order_id: str) -> dict[tuple[str, str | None], str]:
    response = server.client(scope="read").get(f"/v1/persons/{PERSON}/postings",
                                               params={"account": "held", "limit": 1000})
    return {(line["bucket"], line.get("grant_id")): line["amount"]
            for line in response.json()["postings"]
            if line.get("order_id") == order_id and line["kind"] == "hold"}


@pytest.mark.parametrize("price", ["1500.00", "2450.00"])
def test_the_quote_is_what_the_order_gets(server: Server, loaded: None, price: str) -> None:
    read = server.client(scope="read")
    quoted = conforms(_quote(read, PERSON, price).json(), "Quote")
    assert quoted["price"] == price and quoted["on"] == ON
    order_id = f"order-{price}"
    result = server.client(scope="ingest").post(
        "/v1/messages", json=feeds.order(Feed(order_id), PERSON, order_id, price, ON)).json()
    outcome = result["outcomes"][0]
    assert outcome["outcome"] == "accepted", outcome
    assert (f"funded {quoted['funded']}, copay {quoted['copay']}, out of pocket "
            f"{quoted['out_of_pocket']} EUR") in outcome["detail"]
    server.project()
    assert _holds(server, order_id) == {(draw["bucket"], draw["grant_id"]): draw["amount"]
                                        for draw in quoted["draws"]}


def test_earmarked_top_up_is_drawn_first(server: Server, loaded: None) -> None:
    response = _quote(server.client(scope="read"), UNORDERED, "500.00")
    assert response.status_code == 200, response.text
    assert response.json()["draws"][0]["grant_id"] == "g1"


def test_asking_changes_nothing(server: Server, loaded: None) -> None:
    read, audit = server.client(scope="read"), server.client(scope="audit")
    before = read.get(f"/v1/persons/{UNORDERED}/balances").json()
    events = audit.get(f"/v1/audit/persons/{UNORDERED}/events", params={"limit": 500}).json()
    for _ in range(3):
        assert _quote(read, UNORDERED, "900.00").status_code == 200
    assert read.get(f"/v1/persons/{UNORDERED}/balances").json() == before
    assert audit.get(f"/v1/audit/persons/{UNORDERED}/events",
                     params={"limit": 500}).json() == events


def test_on_defaults_to_today(server: Server, loaded: None) -> None:
    response = server.client(scope="read").get(
        f"/v1/persons/{UNORDERED}/quote", params={"certification": CERTIFICATION,
                                               "price_eur": "500"})
    assert response.status_code == 200 and response.json()["price"] == "500.00"


@pytest.mark.parametrize(("person", "price", "on", "reason"), [
    (NEWCOMER, "100.00", ON, "insufficient_rights"),
    (PERSON, "100.00", "2018-06-01", "field_not_in_force"),
])
def test_an_order_that_would_be_rejected_is_422(server: Server, loaded: None, person: str,
                                                price: str, on: str, reason: str) -> None:
    response = _quote(server.client(scope="read"), person, price, on)
    assert response.status_code == 422
    assert problem_of(response)["reason"] == reason


@pytest.mark.parametrize("params", [
    {"price_eur": "10"}, {"certification": CERTIFICATION},
    {"certification": CERTIFICATION, "price_eur": "-1"},
    {"certification": CERTIFICATION, "price_eur": "1.234"},
    {"certification": "bad certification", "price_eur": "1"},
    {"certification": CERTIFICATION, "price_eur": "1", "on": "2024-02-30"},
])
def test_bad_quote_parameters_are_400(server: Server, params: dict[str, Any]) -> None:
    response = server.client(scope="read").get(f"/v1/persons/{PERSON}/quote", params=params)
    assert response.status_code == 400
    assert problem_of(response)["reason"] == "invalid_parameter"


def test_the_quote_settles_closed_years_the_sweep_has_not_reached() -> None:
    """Between a year's close and the sweep reaching a person (hours at France scale), an order
    settles that year first: the quote does the same."""
    ledger = memory_ledger()
    try:
        feed = Feed("sweep")
        ingest(ledger, [*feeds.career(feed, PERSON, range(2019, 2021)), feed.close(2019)])
        close = schemas.validate(feed.close(2020))
        assert isinstance(close, schemas.Message)
        assert closing._mark_closed(ledger, 2020, "2021-04-15", close) is None  # no sweep
        service = LedgerService(ledger, READY_LAG_MAX_EVENTS_DEFAULT)
        quoted = service.quote(PERSON, CERTIFICATION, "900.00", dt.date(2022, 1, 10))
        assert quoted["funded"] == "900.00"  # 2019's 500.00 and 2020's, settled on the way
        [result] = ingest(ledger, [feeds.order(feed, PERSON, "o1", "900.00", "2022-01-10")])
        assert result.outcome == "accepted", result
        assert (f"funded {quoted['funded']}, copay {quoted['copay']}, out of pocket "
                f"{quoted['out_of_pocket']} EUR") in result.detail
    finally:
        ledger.close()
