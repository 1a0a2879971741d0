"""Every rejection path of the contract, with its reason code; a rejected message changes
nothing else."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import schemas
from ledger.application import Ledger
from projections.reader import Reader
from tests.backends import Ledgers
from tests.strategies import careers
from tests.support import Feed, identifier, ingest


@pytest.fixture
def ledger(ledgers: Ledgers) -> Any:
    instance = ledgers.new()
    yield instance
    instance.close()


def _reason(ledger: Ledger, messages: list[dict[str, Any]]) -> list[str]:
    return [f"{r.outcome}:{r.reason}" if r.reason else r.outcome for r in ingest(ledger, messages)]


def _base(feed: Feed) -> list[dict[str, Any]]:
    return [
        feed.employment(2019, "1607"),
        feed.close(2019),
        feed.message("training.ordered", {"order_id": "o1", "certification": "RNCP1",
                                          "provider": "p1", "price_eur": "200.00",
                                          "ordered_on": "2021-03-01"}, published="2021-03-01"),
    ]


def test_raw_input_rejections(ledger: Ledger) -> None:
    oversized = b"{" + b" " * schemas.MESSAGE_SIZE_MAX_BYTES + b"}"
    raws = [b"not json", b"[1, 2]", b"\xff\xfe", oversized]
    keys = [("file:x", f"line:{n}") for n in range(len(raws))]
    results = ledger.ingest([schemas.parse(raw) for raw in raws], fallback_keys=keys)
    assert [r.reason for r in results] == ["malformed", "malformed", "malformed", "oversized"]
    assert Reader(ledger).message("file:x", "line:0")["reason"] == "malformed"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": "no.such.type"}, "unknown_type"),
        ({"version": 2}, "unsupported_version"),
        ({"person": "184037512345600"}, "invalid_person"),
        ({"person": "18403751234569"}, "invalid_person"),
        ({"published_at": "yesterday"}, "schema_violation"),
        ({"data": {"unknown_field": 1}}, "schema_violation"),
    ],
)
def test_envelope_rejections(ledger: Ledger, change: dict[str, Any], reason: str) -> None:
    message = {**Feed().employment(2019, "1607"), **change}
    assert _reason(ledger, [message]) == [f"rejected:{reason}"]


def test_malformed_kafka_record_is_keyed_by_its_position(ledger: Ledger) -> None:
    key = ("kafka:cpa.feed.v1", "3:1234")
    result = ledger.ingest([schemas.parse(b"{oops")], fallback_keys=[key])[0]
    assert (result.source, result.message_id, result.reason) == (*key, "malformed")


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (lambda f: f.message("dif.registered", {"hours": "10", "registered_on": "2021-07-01"},
                             published="2021-07-01"), "dif_registration_closed"),
        (lambda f: f.message("employment.declared", {
            "employer": "12345678901234", "period_start": "2020-01-01",
            "period_end": "2020-12-31", "hours_worked": "1607", "post_share": "0.5"}),
         "schema_violation"),
        (lambda f: f.message("cpf.conversion.requested", {
            "request_id": "r1", "direction": "hours_to_euros", "principal_activity": "public",
            "requested_on": "2021-04-01"}), "conversion_direction_not_allowed"),
        (lambda f: f.message("cpf.conversion.requested", {
            "request_id": "r1", "direction": "euros_to_hours", "principal_activity": "public",
            "requested_on": "2019-04-01"}), "field_not_in_force"),
        (lambda f: f.message("cpf.conversion.requested", {
            "request_id": "r1", "direction": "hours_to_euros", "principal_activity": "private",
            "requested_on": "2021-04-01"}), "nothing_to_convert"),
        (lambda f: f.message("training.ordered", {
            "order_id": "o7", "certification": "C", "provider": "p", "hours": "10",
            "regime": "public", "ordered_on": "2021-04-01"}), "insufficient_rights"),
        (lambda f: f.message("topup.granted", {
            "grant_id": "g1", "funder_type": "employer", "funder_id": "e1", "kind": "other",
            "amount_eur": "100.00", "granted_on": "2024-01-01", "expires_on": "2025-01-01"}),
         "field_not_in_force"),
        (lambda f: f.message("training.ordered", {
            "order_id": "o9", "certification": "C", "provider": "p", "price_eur": "900.00",
            "ordered_on": "2018-06-01"}), "field_not_in_force"),
        (lambda f: f.message("training.ordered", {
            "order_id": "o1", "certification": "C", "provider": "p", "price_eur": "50.00",
            "ordered_on": "2021-04-01"}), "duplicate_order"),
        (lambda f: f.message("training.entered", {"order_id": "nope", "entered_on": "2021-05-01"}),
         "unknown_order"),
        (lambda f: f.message("training.refunded", {"order_id": "o1",
                                                   "refunded_on": "2021-05-01"}),
         "order_not_open"),
        (lambda f: f.message("topup.withdrawn", {"grant_id": "nope",
                                                 "withdrawn_on": "2021-05-01"}),
         "unknown_grant"),
        (lambda f: f.message("employment.declared", {
            "employer": "12345678901234", "period_start": "2020-01-01",
            "period_end": "2020-12-31", "hours_worked": "10"}, supersedes="never-sent"),
         "unknown_superseded"),
        (lambda f: f.message("fact.retracted", {"retracts": "never-sent",
                                                "retracted_on": "2021-01-01"}),
         "unknown_retracted"),
        (lambda f: f.message("training.cancelled", {"order_id": "o1",
                                                    "cancelled_on": "2021-03-01"},
                             supersedes="x"), "not_supported"),
        (lambda f: f.message("civic_engagement.declared", {
            "activity": "service_civique", "year": 2016, "quantity": "12",
            "validated_on": "2017-02-01"}), "not_in_force"),
        (lambda f: f.message("hardship.points.used", {
            "use": "training", "points": 5, "requested_on": "2021-01-01",
            "birth_date": "1984-03-01"}), "c2p_insufficient_points"),
        (lambda f: f.message("hardship.points.used", {
            "use": "reconversion", "points": 5, "requested_on": "2021-01-01",
            "birth_date": "1984-03-01"}), "c2p_use_not_in_force"),
        (lambda f: f.message("employment.declared", {
            "employer": "12345678901234", "period_start": "2014-01-01",
            "period_end": "2014-12-31", "hours_worked": "10"}), "not_in_force"),
    ],
)
def test_rule_rejections(ledger: Ledger, message: Any, reason: str) -> None:
    feed = Feed()
    assert _reason(ledger, _base(feed)) == ["accepted", "accepted", "accepted"]
    before = Reader(ledger).balance(identifier("A"), dt.date(2030, 1, 1))
    assert _reason(ledger, [message(feed)]) == [f"rejected:{reason}"]
    assert Reader(ledger).balance(identifier("A"), dt.date(2030, 1, 1)) == before


def test_insufficient_rights(ledger: Ledger) -> None:
    feed = Feed()
    order = feed.message("training.ordered", {"order_id": "o1", "certification": "C",
                                              "provider": "p", "price_eur": "500.00",
                                              "ordered_on": "2021-03-01"})
    assert _reason(ledger, [order]) == ["rejected:insufficient_rights"]


def test_orders_after_death_are_refused(ledger: Ledger) -> None:
    feed = Feed()
    death = feed.message("person.deceased", {"died_on": "2021-02-01"})
    late = feed.message("training.ordered", {"order_id": "o2", "certification": "C",
                                             "provider": "p", "price_eur": "50.00",
                                             "ordered_on": "2021-03-01"})
    assert _reason(ledger, [*_base(feed)[:2], death, late])[-1] == "rejected:account_closed"


def test_duplicates_and_conflicts(ledger: Ledger) -> None:
    feed = Feed()
    first = feed.employment(2019, "1607")
    changed = {**first, "data": {**first["data"], "hours_worked": "10"}}
    assert _reason(ledger, [first, first, changed]) == [
        "accepted", "duplicate", "rejected:conflicting_duplicate"]
    outcome = Reader(ledger).message(first["source"], first["message_id"])
    assert outcome["outcome"] == "accepted"
    assert [r["outcome"] for r in outcome["repeats"]] == ["duplicate", "rejected"]


def test_second_close_of_a_year_is_refused(ledger: Ledger) -> None:
    feed = Feed()
    assert _reason(ledger, [feed.close(2019), feed.close(2019)]) == [
        "accepted", "rejected:year_already_closed"]


def _mutations(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Invalid copies of a valid message, each under a fresh id."""
    fresh = f"bad-{message['message_id']}"
    return [
        {**message, "message_id": fresh + "-1", "person": "184037512345600"},
        {**message, "message_id": fresh + "-2", "data": {**message["data"], "extra": 1}},
        {**message, "message_id": fresh + "-3", "version": 9},
        {**message, "message_id": fresh + "-4", "supersedes": "nothing-" + fresh},
    ]


@given(careers(max_size=15), st.data())
def test_invalid_messages_change_nothing_else(
    ledgers: Ledgers, feed: list[dict[str, Any]], data: Any
) -> None:
    noisy: list[dict[str, Any]] = []
    for message in feed:
        noisy.append(message)
        if data.draw(st.booleans()):
            noisy.append(data.draw(st.sampled_from(_mutations(message))))
    clean, dirty = ledgers.new(), ledgers.new()
    try:
        ingest(clean, feed)
        results = ingest(dirty, noisy)
        assert all(r.outcome == "rejected" for r in results if str(r.message_id).startswith("bad"))
        for person in ("A", "B", "E"):
            for day in ("2018-12-31", "2030-01-01"):
                as_of = dt.date.fromisoformat(day)
                assert Reader(dirty).balance(identifier(person), as_of) == \
                    Reader(clean).balance(identifier(person), as_of)
    finally:
        clean.close()
        dirty.close()


def test_rejection_detail_is_machine_readable(ledger: Ledger) -> None:
    message = orjson.dumps({**Feed().employment(2019, "1607"), "version": "1"})
    result = ledger.ingest([schemas.parse(message)])[0]
    assert result.reason == "schema_violation"
    assert "version" in result.detail
