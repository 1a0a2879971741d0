"""The typed changes' codec: every kind round-trips, dict-shaped stored events (as written
before the classes) decode to the classes and encode back to the same bytes, and a change that
matches no class is refused."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic

from ledger import changes
from ledger.changes import CHANGE_CLASSES, AnyChange, UnreadableChange
from ledger.domain import PersonAccount
from ledger.state import PersonState, evolve, evolve_recorded, stamped
from ledger.transcoder import LedgerMapper, OrjsonTranscoder

POSTING = {"on": "2020-03-01", "account": "cpf", "amount": 50000, "unit": "EUR",
           "kind": "accrual", "source": "s", "message_id": "m", "year": 2019}
SAMPLES: dict[type[changes.Change], dict[str, Any]] = {
    changes.FactRecorded: {"kind": "fact_recorded", "key": "s/m", "type": "employment.declared",
                           "data": {"period_start": "2019-01-01", "hours": 1607},
                           "published_on": "2019-02-01"},
    changes.FactRemoved: {"kind": "fact_removed", "key": "s/m", "why": "retracted by m2"},
    changes.Posted: {"kind": "posted", "posting": POSTING},
    changes.YearSettled: {"kind": "year_settled", "year": 2019, "entitled": 50000,
                          "credited": 50000, "unit": "EUR", "settled_on": "2020-03-01",
                          "explanation": {"note": "full year"}},
    changes.PublicYearSettled: {"kind": "public_year_settled", "year": 2019, "entitled": 2000,
                                "credited": 2000, "step_balance": 2000,
                                "settled_on": "2020-03-01"},
    changes.CreditSettled: {"kind": "credit_settled", "key": "dif", "amount": 12000,
                            "unit": "hours", "on": "2019-05-01"},
    changes.GrantOpened: {"kind": "grant_opened", "grant": {"grant_id": "g1", "amount": 100}},
    changes.GrantWithdrawn: {"kind": "grant_withdrawn", "grant_id": "g1",
                             "withdrawn_on": "2020-01-01"},
    changes.OrderPlaced: {"kind": "order_placed", "order": {"order_id": "o1", "status": "held"}},
    changes.OrderUpdated: {"kind": "order_updated", "order_id": "o1",
                           "fields": {"status": "entered", "entered_on": "2020-02-01"}},
    changes.C2pUsed: {"kind": "c2p_used", "use": {"use": "training", "points": 10}},
    changes.StatusChanged: {"kind": "status_changed", "retired_on": "2024-01-01",
                            "public_frozen_on": "2024-01-01"},
    changes.Absorbed: {"kind": "absorbed", "absorbed_key": "k2",
                       "state": {"person_key": "k2", "postings": [POSTING]}},
}


def test_every_class_has_a_sample() -> None:
    assert set(SAMPLES) == set(CHANGE_CLASSES)


@pytest.mark.parametrize("document", SAMPLES.values(), ids=lambda d: str(d["kind"]))
def test_dict_shaped_change_decodes_to_its_class_and_encodes_to_the_same_bytes(
    document: dict[str, Any],
) -> None:
    stored = orjson.dumps([document])
    [change] = changes.decode_changes(stored)
    assert type(change).kind == document["kind"] == change.kind
    assert changes.encode([change]) == stored
    assert changes.to_builtins(change) == document
    assert changes.from_builtins(document) == change


def test_old_stored_applied_event_decodes_typed_and_keeps_its_bytes() -> None:
    """An `Applied` event as orjson stored it when changes were dicts."""
    timestamp = dt.datetime(2021, 3, 4, 5, 6, 7, 89, tzinfo=dt.UTC)
    state = {"timestamp": timestamp, "source": "s", "message_id": "m",
             "message_type": "employment.declared", "changes": list(SAMPLES.values()),
             "notes": ["fact employment.declared recorded"]}
    stored = StoredEvent(originator_id=uuid.uuid4(), originator_version=2,
                         topic=get_topic(PersonAccount.Applied),
                         state=OrjsonTranscoder().encode(state))
    mapper = LedgerMapper(transcoder=OrjsonTranscoder())
    event = mapper.to_domain_event(stored)
    assert isinstance(event, PersonAccount.Applied)
    assert [type(change) for change in event.changes] == list(SAMPLES)
    assert event.timestamp == timestamp and event.notes == state["notes"]
    assert mapper.to_stored_event(event) == stored


@pytest.mark.parametrize("document", [
    {"kind": "fact_invented", "key": "s/m"},
    {"key": "s/m", "why": "no kind"},
    {"kind": "fact_removed", "key": "s/m"},
    {"kind": "credit_settled", "key": "dif", "amount": "12000", "unit": "hours"},
], ids=["unknown kind", "no kind", "missing member", "mistyped member"])
def test_change_matching_no_class_is_refused(document: dict[str, Any]) -> None:
    with pytest.raises(UnreadableChange):
        changes.decode_changes(orjson.dumps([document]))
    with pytest.raises(UnreadableChange):
        changes.from_builtins(document)


def test_a_stored_applied_event_that_is_no_longer_readable_is_reported_by_the_mapper() -> None:
    state = b'{"timestamp":"2021-03-04T05:06:07+00:00","source":"s","message_id":"m",' \
            b'"message_type":"t","changes":[{"kind":"fact_invented"}],"notes":[]}'
    stored = StoredEvent(originator_id=uuid.uuid4(), originator_version=2,
                         topic=get_topic(PersonAccount.Applied), state=state)
    with pytest.raises(MapperDeserialisationError, match="kind"):
        LedgerMapper(transcoder=OrjsonTranscoder()).to_domain_event(stored)
    with pytest.raises(UnreadableChange):
        changes.decode_changes(b"[not json")


def test_applied_events_round_trip_through_a_configured_compressor() -> None:
    mapper = LedgerMapper(transcoder=OrjsonTranscoder(), compressor=ZlibCompressor())
    timestamp = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    typed = [changes.from_builtins(document) for document in SAMPLES.values()]
    stored = StoredEvent(originator_id=uuid.uuid4(), originator_version=3,
                         topic=get_topic(PersonAccount.Applied),
                         state=ZlibCompressor().compress(changes.encode({
                             "timestamp": timestamp.isoformat(), "source": "s",
                             "message_id": "m", "message_type": "t", "changes": typed,
                             "notes": []})))
    event = mapper.to_domain_event(stored)
    assert isinstance(event, PersonAccount.Applied) and event.changes == typed
    assert mapper.to_stored_event(event) == stored


def test_evolve_recorded_is_evolve_of_the_stamped_changes() -> None:
    typed = [changes.from_builtins(d) for d in SAMPLES.values()]
    stamped_state, recorded_state = PersonState(person_key="k1"), PersonState(person_key="k1")
    evolve(stamped_state, stamped(typed, "2021-03-04T05:06:07+00:00"))
    evolve_recorded(recorded_state, typed, "2021-03-04T05:06:07+00:00")
    assert recorded_state.to_json() == stamped_state.to_json()
    assert all("recorded_at" in line for line in recorded_state.postings)
    assert "recorded_at" not in POSTING  # the change's own posting is left as it was


def test_evolve_applies_every_class() -> None:
    state = PersonState(person_key="k1")
    typed: list[AnyChange] = [changes.from_builtins(d) for d in SAMPLES.values()
                              if d["kind"] not in ("grant_withdrawn", "order_updated")]
    evolve(state, typed)
    evolve(state, [changes.from_builtins(SAMPLES[changes.GrantWithdrawn]),
                   changes.from_builtins(SAMPLES[changes.OrderUpdated])])
    assert state.grants["g1"]["withdrawn_on"] == "2020-01-01"
    assert state.orders["o1"]["status"] == "entered"
    assert state.retired_on == "2024-01-01" and state.absorbed == ["k2"]
    assert len(state.postings) == 2 and state.credited["dif"]["amount"] == 12000
