"""The fact index's regime lists (`FactIndex.by_regime`, read by the account document on every
projected event) answer exactly what a scan of all the person's employment facts answers,
after any sequence of recorded, re-recorded, retracted and absorbed facts, and after a
snapshot (the index is derived: rebuilt when a state is loaded)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.changes import Absorbed, Change, FactRecorded, FactRemoved
from ledger.rules import public
from ledger.state import EMPLOYMENT_TYPE, INDEXED_REGIMES, PersonState, evolve
from projections.balances import STATUS_FACT_TYPES, _status_facts

KEYS = tuple(f"src/m{number}" for number in range(6))
YEARS = range(2015, 2027)
REGIMES = (None, "private", *INDEXED_REGIMES)


@st.composite
def recorded(draw: st.DrawFn) -> FactRecorded:
    kind = draw(st.sampled_from((EMPLOYMENT_TYPE, "qualification.declared")))
    if kind == EMPLOYMENT_TYPE:
        data: dict[str, Any] = {"period_start": f"{draw(st.sampled_from(YEARS))}-03-01"}
        regime = draw(st.sampled_from(REGIMES))
        if regime is not None:
            data["regime"] = regime
    else:
        data = {"declared_on": "2020-01-01"}
    return FactRecorded(key=draw(st.sampled_from(KEYS)), type=kind, data=data,
                        published_on="2020-01-01")


def _absorbed(changes: list[FactRecorded]) -> Absorbed:
    other = PersonState(person_key="other")
    evolve(other, changes)
    return Absorbed(absorbed_key="other", state=other.to_json())


changes = st.one_of(
    recorded(),
    st.builds(FactRemoved, key=st.sampled_from(KEYS), why=st.just("retracted")),
    st.lists(recorded(), max_size=4).map(_absorbed),
)


def _scanned(state: PersonState, regime: str) -> list[str]:
    """The regime's facts found by scanning every employment fact (the reference)."""
    return [key for key in state.index.by_type.get(EMPLOYMENT_TYPE, ())
            if state.facts[key]["data"].get("regime") == regime]


def _scanned_status_facts(state: PersonState) -> dict[str, Any]:
    keys = [key for kind in STATUS_FACT_TYPES for key in state.index.by_type.get(kind, ())]
    keys.extend(_scanned(state, "esat"))
    return {key: state.facts[key] for key in sorted(keys, key=lambda k: state.facts[k]["seq"])}


def _scanned_public_years(state: PersonState) -> set[int]:
    return {int(str(state.facts[key]["data"]["period_start"])[:4])
            for key in _scanned(state, public.REGIME)}


@settings(max_examples=200, deadline=None)
@given(st.lists(changes, max_size=20))
def test_regime_lists_equal_a_scan_of_all_facts(sequence: list[Change]) -> None:
    state = PersonState(person_key="p")
    for change in sequence:
        evolve(state, [change])
        for current in (state, PersonState.from_json(state.to_json())):
            for regime in INDEXED_REGIMES:
                assert list(current.index.by_regime.get(regime, ())) == _scanned(current, regime)
            assert _status_facts(current) == _scanned_status_facts(current)
            assert public.years_with_public_facts(current) == _scanned_public_years(current)
            for year in YEARS:
                assert public.has_public_period_in(current, year) == \
                    public.has_public_period(year, current.facts_for_year(year))
