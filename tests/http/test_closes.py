"""Year closes over HTTP: accepted at once (202), swept in the background, followed through
their status resource; never mixed with other messages; resumed when sent again after a stop."""

from __future__ import annotations

from typing import Any

import pytest

import schemas
from ledger.identity import aggregate_id
from tests.http import feeds
from tests.http.conformance import conforms
from tests.http.server import Server, problem_of
from tests.support import Feed, identifier

PERSONS = [identifier(letter) for letter in "ABCDE"]


class StopAfterFirstPage(Exception):
    """Stands for a process stopped in the middle of a sweep."""


def _careers(server: Server, feed: Feed, years: range) -> None:
    messages = [m for person in PERSONS for m in feeds.career(feed, person, years)]
    assert server.post(messages)["accepted"] == len(messages)


def test_a_close_is_accepted_at_once_and_followed_to_its_outcome(server: Server) -> None:
    feed = Feed("close202")
    _careers(server, feed, range(2020, 2022))
    ingest = server.client(scope="ingest")
    close = feed.close(2020)
    response = ingest.post("/v1/messages", json=close)
    assert response.status_code == 202, response.text
    status = conforms(response.json(), "CloseStatus")
    assert status["outcome"] == "in_progress" and status["year"] == 2020
    assert response.headers["location"] == f"/v1/messages/{close['source']}/{close['message_id']}"
    # Followed, not posted again: a sweep that ended meanwhile would answer `duplicate`.
    outcome = server.follow(ingest, response.headers["location"])
    assert outcome["outcome"] == "accepted"
    assert f"{len(PERSONS)} persons settled" in outcome["detail"]
    again = ingest.post("/v1/messages", json=close)
    assert again.status_code == 200
    assert again.json()["outcomes"][0]["outcome"] == "duplicate"


def test_a_close_among_other_messages_is_refused_whole(server: Server) -> None:
    feed = Feed("closemix")
    employment = feed.employment(2021, feeds.FULL_TIME_HOURS, person=PERSONS[0])
    ingest = server.client(scope="ingest")
    response = ingest.post("/v1/messages", json=[employment, feed.close(2021)])
    assert response.status_code == 422
    assert problem_of(response)["reason"] == "year_close_not_alone"
    unknown = ingest.get(f"/v1/messages/{employment['source']}/{employment['message_id']}")
    assert unknown.status_code == 404


def test_a_stopped_sweep_shows_in_progress_and_resumes_when_sent_again(server: Server) -> None:
    feed = Feed("closestop")
    _careers(server, feed, range(2022, 2023))
    close = feed.close(2022)
    _stop_after_first_page(server, close)
    ingest = server.client(scope="ingest")
    status = ingest.get(f"/v1/messages/{close['source']}/{close['message_id']}")
    assert status.status_code == 202, status.text
    document = conforms(status.json(), "CloseStatus")
    assert document["persons_settled"] is None and "send the message again" in document["detail"]
    outcome = server.close(ingest, close)
    assert outcome["outcome"] == "accepted"
    assert "0 persons settled" in outcome["detail"]  # the first run's page stands, once
    with server.ledger() as ledger:
        for person in PERSONS:
            account: Any = ledger.app.repository.get(aggregate_id(ledger.person_key(person)))
            assert "2022" in account.state.years


def _stop_after_first_page(server: Server, close: dict[str, Any]) -> None:
    """Sweep the close in this process and stop after its first page of persons (here every
    person): the year is closed in the calendar and the message has no outcome yet."""

    def stop(settled: int) -> None:
        raise StopAfterFirstPage(settled)

    with server.ledger() as ledger, pytest.raises(StopAfterFirstPage):
        ledger.ingest([schemas.validate(close)], progress=stop)
