"""Nothing raises on any input: schema-shaped messages of every type with arbitrary values,
and arbitrary JSON, go through the whole ledger and each ends in exactly one outcome."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

import schemas
from tests.backends import Ledgers
from tests.strategies import dates
from tests.support import Feed, ingest

AMOUNTS = st.builds(lambda w, c: f"{w}.{c:02d}", st.integers(0, 99_999), st.integers(0, 99))
SMALL = st.sampled_from(("x1", "x2", "x3"))
DATES = dates(2013, 2031)
FACTORS = st.lists(st.sampled_from(("night_work", "noise", "vibrations", "hyperbaric")),
                   min_size=1, max_size=3, unique=True)

DATA: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "employment.declared": st.fixed_dictionaries({
        "employer": st.just("12345678901234"), "period_start": st.just("2019-01-01"),
        "period_end": st.sampled_from(("2019-01-01", "2019-12-31")), "hours_worked": AMOUNTS,
        "reference_hours": st.sampled_from(("1607", "218", "0.01")),
        "regime": st.sampled_from(("private", "esat", "public"))}),
    "self_employment.declared": st.fixed_dictionaries({
        "year": st.integers(2014, 2030), "months_active": st.integers(1, 12),
        "contribution_paid": st.booleans()}),
    "qualification.declared": st.fixed_dictionaries({
        "low_qualified": st.booleans(), "declared_on": DATES}),
    "disability.recognised": st.fixed_dictionaries({"from": DATES}),
    "jobseeker.registered": st.fixed_dictionaries({"from": DATES}),
    "dif.registered": st.fixed_dictionaries({"hours": AMOUNTS, "registered_on": DATES}),
    "topup.granted": st.fixed_dictionaries({
        "grant_id": SMALL, "funder_type": st.just("employer"), "funder_id": st.just("f"),
        "kind": st.sampled_from(("corrective", "c2p", "other")), "amount_eur": AMOUNTS,
        "granted_on": DATES}, optional={"expires_on": DATES, "refundable": st.booleans()}),
    "topup.withdrawn": st.fixed_dictionaries({"grant_id": SMALL, "withdrawn_on": DATES}),
    "civic_engagement.declared": st.fixed_dictionaries({
        "activity": st.sampled_from(("service_civique", "benevolat_associatif")),
        "year": st.integers(2014, 2030), "quantity": AMOUNTS, "validated_on": DATES}),
    "training.ordered": st.fixed_dictionaries({
        "order_id": SMALL, "certification": st.just("RNCP1"), "provider": st.just("p"),
        "price_eur": AMOUNTS, "ordered_on": DATES},
        optional={"volunteer_training": st.booleans()}),
    "training.cancelled": st.fixed_dictionaries({"order_id": SMALL, "cancelled_on": DATES}),
    "training.entered": st.fixed_dictionaries({"order_id": SMALL, "entered_on": DATES}),
    "training.refunded": st.fixed_dictionaries({"order_id": SMALL, "refunded_on": DATES},
                                               optional={"amount_eur": AMOUNTS}),
    "hardship.exposure.declared": st.fixed_dictionaries({
        "employer": st.just("12345678901234"), "year": st.integers(2014, 2030),
        "quarters": st.lists(st.integers(1, 4), min_size=1, max_size=4, unique=True),
        "factors": FACTORS, "birth_date": DATES}),
    "hardship.points.used": st.fixed_dictionaries({
        "use": st.sampled_from(("training", "part_time", "retirement", "reconversion")),
        "points": st.integers(0, 200), "requested_on": DATES,
        "birth_date": st.sampled_from(("1950-01-01", "1961-06-01", "1990-01-01"))}),
    "person.retired": st.fixed_dictionaries({"retired_on": DATES, "full_rate": st.booleans()}),
    "person.deceased": st.fixed_dictionaries({"died_on": DATES}),
    "person.merged": st.fixed_dictionaries({
        "absorbed": st.sampled_from(("784037512345696", "291056912345747", "bad")),
        "merged_on": DATES}),
    "accrual.year.closed": st.fixed_dictionaries({
        "year": st.integers(2014, 2030), "credited_on": DATES}),
    "fact.retracted": st.fixed_dictionaries({"retracts": st.sampled_from(("f1", "f2", "f3")),
                                             "retracted_on": DATES}),
}


@st.composite
def any_message(draw: st.DrawFn, feed: Feed) -> dict[str, Any]:
    type_ = draw(st.sampled_from(sorted(DATA)))
    return feed.message(type_, draw(DATA[type_]), person=draw(st.sampled_from(("A", "B"))),
                           published=draw(DATES), message_id=draw(st.sampled_from(
                               ("f1", "f2", "f3", None, None, None))),
                           supersedes=draw(st.sampled_from((None, None, "f1", "f2"))))


@given(st.data())
def test_any_schema_shaped_feed_ends_in_one_outcome_each(
    ledgers: Ledgers, data: st.DataObject
) -> None:
    feed = Feed(prefix="z")
    messages = data.draw(st.lists(any_message(feed), min_size=1, max_size=25))
    ledger = ledgers.new()
    try:
        results = ingest(ledger, messages)
        assert len(results) == len(messages)
        assert all(r.outcome in ("accepted", "duplicate", "rejected") for r in results)
        assert all(r.reason for r in results if r.outcome == "rejected")
    finally:
        ledger.close()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.lists(JSON | st.binary().map(lambda b: b), min_size=1, max_size=10))
def test_arbitrary_input_is_rejected_not_raised(ledgers: Ledgers, values: list[Any]) -> None:
    raws = [v if isinstance(v, bytes) else orjson.dumps(v) for v in values]
    ledger = ledgers.new()
    try:
        keys = [("fuzz", f"line:{i}") for i in range(len(raws))]
        results = ledger.ingest([schemas.parse(raw) for raw in raws], fallback_keys=keys)
        assert len(results) == len(raws)
        assert all(r.outcome in ("rejected", "duplicate", "accepted") for r in results)
    finally:
        ledger.close()
