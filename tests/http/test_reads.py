"""Ingestion through POST /v1/messages, then every read, on both backends: balances (as of a
date, as known at a time, ETag), postings to the end of a long statement, accruals, outcomes,
audit events with their chain values, verify."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from ledger.http import audit
from projections.models import GENESIS_LINK, chain
from projections.operations import is_postgres
from projections.reader import Reader
from projections.tables import TableReader
from tests.http import feeds
from tests.http.conformance import conforms
from tests.http.server import Server, problem_of
from tests.support import Feed, identifier

PERSON = identifier("B")
OTHER = identifier("C")
TOPUPS = 45
PAGE_LINES = 7


@pytest.fixture(scope="module")
def loaded(server: Server) -> dict[str, Any]:
    """Person B: a career 2015-2023, years 2015-2020 closed, then (after `known_at`) 2021-2022
    closed and TOPUPS top-ups: a statement of several pages."""
    feed = Feed("reads")
    first = [*feeds.career(feed, PERSON, range(2015, 2024)), *feeds.closes(feed, range(2015, 2021))]
    assert server.post(first) == {"accepted": len(first), "duplicate": 0, "rejected": 0}
    time.sleep(0.05)
    known_at = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    second = [*feeds.closes(feed, range(2021, 2023)),
              *(feeds.topup(feed, PERSON, number) for number in range(TOPUPS))]
    assert server.post(second)["accepted"] == len(second)
    server.project()
    return {"known_at": known_at, "messages": first + second}


def _post(client: httpx.Client, messages: Any) -> dict[str, Any]:
    response = client.post("/v1/messages", json=messages)
    assert response.status_code == 200, response.text
    return dict(conforms(response.json(), "IngestResult"))


def _balance(server: Server, **query: str) -> dict[str, Any]:
    response = server.client(scope="read").get(f"/v1/persons/{PERSON}/balances", params=query)
    assert response.status_code == 200, response.text
    return dict(conforms(response.json(), "Balance"))


def test_balance_is_what_the_ledger_says(server: Server, loaded: dict[str, Any]) -> None:
    document = _balance(server, as_of="2025-06-30")
    assert document["accounts"]["cpf"] == {"unit": "EUR", "balance": "3440.00",
                                           "ceiling": "5000.00"}
    assert document["accounts"]["topups"]["balance"] == f"{TOPUPS * 10}.00"
    ledger = server.ledger()
    try:
        reader = TableReader(ledger) if is_postgres(ledger) else Reader(ledger)
        assert document == reader.balance(PERSON, dt.date(2025, 6, 30))
    finally:
        ledger.close()


def test_balance_as_of_a_date_before_2019_is_in_hours(server: Server,
                                                      loaded: dict[str, Any]) -> None:
    document = _balance(server, as_of="2018-06-30")
    assert document["accounts"]["cpf"]["unit"] == "hours"
    assert document["accounts"]["cpf"]["balance"] == "72.00"
    assert document["as_of"] == "2018-06-30"


def test_balance_as_known_at_a_time(server: Server, loaded: dict[str, Any]) -> None:
    known_at = loaded["known_at"].isoformat()
    then = _balance(server, as_of="2025-06-30", known_at=known_at)
    assert then["known_at"] == known_at
    assert then["accounts"]["cpf"]["balance"] == "2440.00"  # 2021 and 2022 not closed yet
    assert then["accounts"]["topups"]["balance"] == "0.00"
    assert _balance(server, as_of="2025-06-30")["known_at"] is None


def test_balance_defaults_to_today(server: Server, loaded: dict[str, Any]) -> None:
    assert _balance(server)["as_of"] == dt.date.today().isoformat()


def test_todays_balance_follows_every_change(server: Server, loaded: dict[str, Any]) -> None:
    """Today's document (cached on PostgreSQL) is what the read model says, read after read,
    and changes with the next projected message."""
    client = server.client(scope="read")
    path = f"/v1/persons/{OTHER}/balances"
    first, again = client.get(path), client.get(path)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content and first.headers["etag"] == again.headers["etag"]
    today = dt.date.today().isoformat()
    assert client.get(path, params={"as_of": today}).content == first.content
    ledger = server.ledger()
    try:
        reader = TableReader(ledger) if is_postgres(ledger) else Reader(ledger)
        assert first.json() == reader.balance(OTHER, dt.date.today())
    finally:
        ledger.close()
    before = int(first.json()["accounts"]["topups"]["balance"].split(".")[0])
    _post(server.client(scope="ingest"), [feeds.topup(Feed("today"), OTHER, 7)])
    server.project()
    after = conforms(client.get(path).json(), "Balance")
    assert after["accounts"]["topups"]["balance"] == f"{before + 10}.00"


def test_a_person_never_heard_of_has_zeros(server: Server, loaded: dict[str, Any]) -> None:
    response = server.client(scope="read").get(f"/v1/persons/{identifier('D')}/balances")
    document = conforms(response.json(), "Balance")
    assert document["status"] == "open" and document["available"] == "0.00"


def test_balance_etag_answers_304_until_it_changes(server: Server,
                                                   loaded: dict[str, Any]) -> None:
    client = server.client(scope="read")
    path = f"/v1/persons/{OTHER}/balances?as_of=2030-01-01"
    tag = client.get(path).headers["etag"]
    unchanged = client.get(path, headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == tag
    _post(server.client(scope="ingest"), [feeds.topup(Feed("etag"), OTHER, 1)])
    server.project()
    changed = client.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag


def _pages(client: httpx.Client, path: str, limit: int) -> list[dict[str, Any]]:
    pages, cursor = [], None
    for _ in range(1_000):
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("pagination did not end")


def test_postings_paginate_to_the_end(server: Server, loaded: dict[str, Any]) -> None:
    client = server.client(scope="read")
    path = f"/v1/persons/{PERSON}/postings"
    whole = conforms(client.get(path, params={"limit": 1000}).json(), "PostingsPage")
    assert whole["next_cursor"] is None and len(whole["postings"]) > 4 * PAGE_LINES
    pages = _pages(client, path, PAGE_LINES)
    for page in pages:
        conforms(page, "PostingsPage")
    assert [len(page["postings"]) for page in pages[:-1]] == [PAGE_LINES] * (len(pages) - 1)
    assert [line for page in pages for line in page["postings"]] == whole["postings"]


def test_postings_filters(server: Server, loaded: dict[str, Any]) -> None:
    client = server.client(scope="read")
    path = f"/v1/persons/{PERSON}/postings"
    topups = client.get(path, params={"account": "topups", "limit": 1000}).json()["postings"]
    assert len(topups) == TOPUPS and {line["account"] for line in topups} == {"topups"}
    window = client.get(path, params={"from": "2019-01-01", "to": "2020-12-31"}).json()
    assert window["postings"] and all("2019-01-01" <= line["on"] <= "2020-12-31"
                                      for line in window["postings"])


def test_a_cursor_only_works_with_its_query(server: Server, loaded: dict[str, Any]) -> None:
    client = server.client(scope="read")
    cursor = client.get(f"/v1/persons/{PERSON}/postings", params={"limit": 2}).json()[
        "next_cursor"]
    for path, params in ((f"/v1/persons/{OTHER}/postings", {"cursor": cursor}),
                         (f"/v1/persons/{PERSON}/postings", {"cursor": cursor, "account": "cpf"}),
                         (f"/v1/persons/{PERSON}/postings", {"cursor": "not-a-cursor"})):
        response = client.get(path, params=params)
        assert response.status_code == 400
        assert problem_of(response)["reason"] == "invalid_cursor"


def test_postings_etag(server: Server, loaded: dict[str, Any]) -> None:
    client = server.client(scope="read")
    path = f"/v1/persons/{PERSON}/postings"
    tag = client.get(path).headers["etag"]
    assert client.get(path, headers={"If-None-Match": f'W/{tag}, "x"'}).status_code == 304


def test_accruals_closed_and_pending(server: Server, loaded: dict[str, Any]) -> None:
    client = server.client(scope="read")
    closed = conforms(client.get(f"/v1/persons/{PERSON}/accruals/2020").json(), "Explanation")
    assert closed["status"] == "closed" and closed["settlements"]
    pending = conforms(client.get(f"/v1/persons/{PERSON}/accruals/2023").json(), "Explanation")
    assert pending["status"] == "pending"


def test_message_outcomes_and_duplicates(server: Server, loaded: dict[str, Any]) -> None:
    message = loaded["messages"][0]
    again = _post(server.client(scope="ingest"), message)
    assert again["outcomes"][0]["outcome"] == "duplicate"
    response = server.client(scope="audit").get(
        f"/v1/messages/{message['source']}/{message['message_id']}")
    document = conforms(response.json(), "MessageRecord")
    assert document["outcome"] == "accepted" and document["channel"] == "http"
    assert [r["outcome"] for r in document["repeats"]] == ["duplicate"]


def test_audit_events_carry_their_chain(server: Server, loaded: dict[str, Any]) -> None:
    pages = _pages(server.client(scope="audit"), f"/v1/audit/persons/{PERSON}/events", 3)
    events = [event for page in pages for event in conforms(page, "AuditEventsPage")["events"]]
    assert [event["version"] for event in events] == list(range(1, len(events) + 1))
    link = GENESIS_LINK
    for event in events:
        digest = hashlib.sha256(event["topic"].encode() + b"\n"
                                + event["stored_state"].encode()).hexdigest()
        assert event["event_hash"] == digest
        link = chain(link, digest)
        assert event["person_link"] == link
        assert (event["link"] is not None) == server.postgres


def test_verify_says_ok(server: Server, loaded: dict[str, Any]) -> None:
    response = server.client(scope="audit").get("/v1/audit/verify")
    document = conforms(response.json(), "Verdict")
    assert document["ok"] is True and document["first_difference"] is None
    assert document["checked_events"] >= len(loaded["messages"])


def test_one_verify_at_a_time(server: Server, loaded: dict[str, Any]) -> None:
    """PostgreSQL's verify projects into shared tables: a second one is refused while the first
    runs. The embedded default's verify only reads: concurrent ones all answer."""
    if not server.postgres:
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(lambda _: server.client(scope="audit").get(
                "/v1/audit/verify").json()["ok"], range(2)))
        assert answers == [True, True]
        return
    base = server.database_url.split("?", 1)[0]
    with psycopg.connect(base, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext(%s))", (audit.VERIFY_LOCK_NAME,))
        response = server.client(scope="audit").get("/v1/audit/verify")
    assert response.status_code == 409
    assert problem_of(response)["reason"] == "verify_in_progress"
    assert response.headers["retry-after"]
