"""The projector's remembered open years (`projections.pending.PendingYears`) answer exactly
what computing every open year afresh from the state answers, after any sequence of facts,
postings, settlements and status changes (the hours regime's rate moves with the balance)."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.changes import Change, FactRecorded, FactRemoved, Posted, StatusChanged, YearSettled
from ledger.parameters import load as load_parameters
from ledger.rules.common import Context
from ledger.state import PersonState, evolve
from projections.pending import PendingYears

PARAMETERS = load_parameters()
YEARS = (2016, 2017, 2018, 2019)
KEYS = tuple(f"src/m{number}" for number in range(3))


@st.composite
def employment(draw: st.DrawFn) -> FactRecorded:
    year = draw(st.sampled_from(YEARS))
    data = {"period_start": f"{year}-02-01", "period_end": f"{year}-11-30",
            "hours_worked": f"{draw(st.sampled_from((100, 900, 1700)))}.00"}
    if draw(st.booleans()):
        data["regime"] = "public"  # the public counter's (rules §10.3)
    return FactRecorded(key=draw(st.sampled_from(KEYS)), type="employment.declared",
                        data=data, published_on=f"{year}-12-01")


@st.composite
def posted(draw: st.DrawFn) -> Posted:
    year = draw(st.sampled_from(YEARS))
    account = draw(st.sampled_from(("cpf", "cpf_public")))
    unit = "EUR" if year >= 2019 and account == "cpf" else "hours"
    # Whole steps of 150 h (or their euros) across the 120-h threshold of the hours regime.
    amount = draw(st.sampled_from((-1, 1))) * 150 * (1500 if unit == "EUR" else 100)
    return Posted(posting={"on": f"{year}-06-01", "account": account, "amount": amount,
                           "unit": unit, "kind": "test"})


@st.composite
def settled(draw: st.DrawFn) -> YearSettled:
    year = draw(st.sampled_from(YEARS))
    return YearSettled(year=year, entitled=0, credited=0, unit="hours",
                       settled_on=f"{year + 1}-01-15")


# Facts and postings drawn more often than the changes that reset or close a year.
changes = st.one_of(
    employment(), posted(), employment(), posted(), settled(),
    st.builds(FactRemoved, key=st.sampled_from(KEYS), why=st.just("retracted")),
    st.sampled_from(YEARS).map(lambda year: StatusChanged(retired_on=f"{year}-07-01")),
)


def _rows(state: PersonState, pending: PendingYears) -> list[dict[str, Any]]:
    return pending.current(state, Context(PARAMETERS, {}))


def _fact(year: int) -> FactRecorded:
    return FactRecorded(key="src/m0", type="employment.declared", published_on=f"{year}-12-01",
                        data={"period_start": f"{year}-02-01", "period_end": f"{year}-11-30",
                              "hours_worked": "100.00"})


def _credit(on: str) -> Posted:
    return Posted(posting={"on": on, "account": "cpf", "amount": 15_000, "unit": "hours",
                           "kind": "test"})


@settings(max_examples=300, deadline=None)
@given(st.lists(changes, max_size=25))
# A credit moves the rate band of an open hours year (2017), and of 2018, an hours year whose
# pending row is in euros (it is computed as of 2019-01-01).
@example([_fact(2017), _credit("2016-06-01")])
@example([_fact(2018), _credit("2017-06-01")])
def test_remembered_open_years_equal_a_fresh_computation(sequence: list[Change]) -> None:
    state = PersonState(person_key="p")
    pending = PendingYears()
    for change in sequence:
        pending.forget_stale([change], state)
        evolve(state, [change])
        assert _rows(state, pending) == _rows(state.clone(), PendingYears())
