"""A snapshot leaves the settled years' facts and the postings encoded (`ledger.snapshots`): a
state loaded from one answers every read as the state it was taken from, after any later
changes, and through snapshots of snapshots whose cold parts were never decoded."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import snapshots
from ledger.changes import Change, FactRecorded, FactRemoved, Posted, YearSettled
from ledger.state import ACCRUAL_FACT_TYPES, INDEXED_REGIMES, PersonState, evolve

KEYS = tuple(f"src/m{number}" for number in range(8))
YEARS = range(2016, 2022)
TYPES = (*ACCRUAL_FACT_TYPES, "qualification.declared", "civic_engagement.declared")
REGIMES = (None, "private", *INDEXED_REGIMES)


@st.composite
def recorded(draw: st.DrawFn) -> FactRecorded:
    kind = draw(st.sampled_from(TYPES))
    year = draw(st.sampled_from(YEARS))
    data: dict[str, Any]
    if kind == "employment.declared":
        data = {"period_start": f"{year}-03-01", "hours_worked": "100"}
        regime = draw(st.sampled_from(REGIMES))
        if regime is not None:
            data["regime"] = regime
    elif kind == "self_employment.declared":
        data = {"year": year}
    elif kind == "qualification.declared":
        data = {"declared_on": f"{year}-01-01"}
    else:
        data = {"activity": "volunteering", "year": year}
    return FactRecorded(key=draw(st.sampled_from(KEYS)), type=kind, data=data,
                        published_on=f"{year + 1}-01-03")


def settled(year: int) -> YearSettled:
    return YearSettled(year=year, entitled=500, credited=500, unit="euros",
                       settled_on=f"{year + 1}-04-15")


def posted(year: int) -> Posted:
    return Posted(posting={"on": f"{year + 1}-04-15", "account": "cpf", "amount": 50000,
                           "unit": "euros", "kind": "accrual", "year": year})


CHANGES = st.one_of(
    recorded(),
    st.builds(FactRemoved, key=st.sampled_from(KEYS), why=st.just("retracted")),
    st.builds(settled, st.sampled_from(YEARS)),
    st.builds(posted, st.sampled_from(YEARS)),
)


def round_trip(state: PersonState) -> PersonState:
    """The state as a snapshot stores it and a load decodes it (cold parts left encoded)."""
    data = snapshots.encode({"timestamp": "2026-01-05T09:00:00+00:00", "topic": "t", "state": {
        "person_key": state.person_key, "state": snapshots.stored_document(state),
        "created_on": "2026-01-05T09:00:00+00:00", "modified_on": "2026-01-05T09:00:00+00:00"}})
    return snapshots.adopt(snapshots.decode(data).state.state)


def reads(state: PersonState) -> dict[str, Any]:
    """Every read the rules make of a state's facts, answered by `state` itself."""
    answers: dict[str, Any] = {"years": state.accrual_years()}
    for kind in TYPES:
        answers[f"has {kind}"] = state.has_facts_of_type(kind)
        answers[f"of {kind}"] = state.facts_of_type(kind)
    for year in YEARS:
        answers[f"year {year}"] = list(state.facts_for_year(year).items())
    answers["json"] = state.to_json()
    return answers


def applied(state: PersonState, changes: list[Change]) -> PersonState:
    for change in changes:
        if isinstance(change, FactRemoved) and state.fact(change.key) is None:
            continue
        evolve(state, [change])
    return state


@settings(max_examples=300, deadline=None)
@given(st.lists(CHANGES, max_size=30), st.lists(CHANGES, max_size=10),
       st.lists(CHANGES, max_size=10))
def test_a_loaded_state_reads_as_the_state_it_was_taken_from(
    before: list[Change], between: list[Change], after: list[Change]
) -> None:
    whole = applied(PersonState(person_key="p"), before)
    loaded = round_trip(applied(PersonState(person_key="p"), before))
    applied(whole, between)
    applied(loaded, between)
    again = round_trip(loaded)  # a snapshot of a state whose cold parts may still be encoded
    applied(whole, after)
    applied(again, after)
    assert reads(again) == reads(whole)
    assert reads(applied(round_trip(whole), [])) == reads(whole)


def test_an_open_years_reads_leave_the_settled_years_encoded() -> None:
    state = PersonState(person_key="p")
    changes: list[Change] = []
    for year in range(2016, 2021):
        changes.append(FactRecorded(key=f"src/{year}", type="employment.declared",
                                    data={"period_start": f"{year}-01-01"},
                                    published_on=f"{year}-12-31"))
        changes.extend([settled(year), posted(year)])
    changes.append(FactRecorded(key="src/2021", type="employment.declared",
                                data={"period_start": "2021-01-01"}, published_on="2021-12-31"))
    evolve(state, changes)
    loaded = round_trip(state)
    assert set(loaded.cold_facts) == {f"src/{year}" for year in range(2016, 2021)}
    assert loaded.cold_postings is not None
    assert list(loaded.facts_for_year(2021)) == ["src/2021"]
    assert loaded.accrual_years() == set(range(2016, 2022))
    evolve(loaded, [posted(2021), FactRecorded(key="src/2021b", type="employment.declared",
                                               data={"period_start": "2021-06-01"},
                                               published_on="2022-01-03")])
    assert loaded.cold_facts and loaded.cold_postings is not None  # still encoded
    assert list(loaded.facts_for_year(2018)) == ["src/2018"]  # a settled year's read decodes
    assert not loaded.cold_facts
    assert len(loaded.postings) == 6 and loaded.cold_postings is None


def test_a_snapshot_of_the_earlier_layout_loads_whole() -> None:
    state = PersonState(person_key="p")
    evolve(state, [FactRecorded(key="src/a", type="employment.declared",
                                data={"period_start": "2018-01-01"}, published_on="2019-01-03"),
                   settled(2018), posted(2018)])
    earlier = msgspec.json.encode({"timestamp": "2026-01-05T09:00:00+00:00", "topic": "t",
                                   "state": {"person_key": "p", "state": state.to_json(),
                                             "created_on": "2026-01-05T09:00:00+00:00",
                                             "modified_on": "2026-01-05T09:00:00+00:00"}})
    loaded = snapshots.adopt(snapshots.decode(earlier).state.state)
    assert not loaded.cold_facts
    assert reads(loaded) == reads(state)
    document = snapshots.stored_document(state)
    assert PersonState.adopt(msgspec.json.decode(snapshots.encode(document))).to_json() \
        == state.to_json()
