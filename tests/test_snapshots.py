"""A snapshot leaves the settled years' facts and the postings encoded (`ledger.snapshots`): a
state loaded from one answers every read as the state it was taken from, after any later
changes, and through snapshots of snapshots whose cold parts were never decoded."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import parameters, snapshots
from ledger.changes import (
    Change,
    FactRecorded,
    FactRemoved,
    GrantOpened,
    GrantWithdrawn,
    Posted,
    YearSettled,
)
from ledger.rules.book import EUR, HOURS, fold
from ledger.rules.common import book_on
from ledger.state import ACCRUAL_FACT_TYPES, HELD, INDEXED_REGIMES, PersonState, evolve

PARAMETERS = parameters.load()

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


# Changes before a first snapshot, between it and a second one, and after.
THREE_STRETCHES = given(st.lists(CHANGES, max_size=30), st.lists(CHANGES, max_size=10),
                        st.lists(CHANGES, max_size=10))


@settings(max_examples=300, deadline=None)
@THREE_STRETCHES
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


@settings(max_examples=200, deadline=None)
@THREE_STRETCHES
def test_a_state_snapshotted_in_memory_reads_as_one_never_snapshotted(
    before: list[Change], between: list[Change], after: list[Change]
) -> None:
    """Taking a snapshot leaves the settled years' facts encoded in the state it was taken
    from (`snapshots.keep_cold`): a state held in memory through snapshots answers every read
    as one that never was, and its next snapshot stores the same document."""
    plain = applied(PersonState(person_key="p"), before)
    held = applied(PersonState(person_key="p"), before)
    snapshots.stored_document(held)
    applied(plain, between)
    applied(held, between)
    stored = snapshots.encode(snapshots.stored_document(held))
    assert msgspec.json.decode(stored) == msgspec.json.decode(
        snapshots.encode(snapshots.stored_document(plain.clone())))
    applied(plain, after)
    applied(held, after)
    assert reads(held) == reads(plain)


def test_a_held_state_encodes_a_settled_year_once() -> None:
    state = PersonState(person_key="p")
    evolve(state, [FactRecorded(key="src/2018", type="employment.declared",
                                data={"period_start": "2018-01-01"}, published_on="2019-01-03"),
                   settled(2018), posted(2018),
                   FactRecorded(key="src/2019", type="employment.declared",
                                data={"period_start": "2019-01-01"}, published_on="2019-12-03")])
    first = snapshots.stored_document(state)
    assert list(state.hot_facts) == ["src/2019"] and set(state.cold_facts) == {"src/2018"}
    second = snapshots.stored_document(state)
    assert second["cold_facts"]["src/2018"] is first["cold_facts"]["src/2018"]
    assert list(state.facts_for_year(2019)) == ["src/2019"] and state.cold_facts


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


# Postings of any date around the 2019 euro switch, held or not, on a top-up grant or not, and
# grants that expire or are withdrawn: what the balances fold reads.
DAYS = st.dates(min_value=dt.date(2016, 1, 1), max_value=dt.date(2022, 12, 31))


@st.composite
def a_posting(draw: st.DrawFn) -> Posted:
    on = draw(DAYS)
    account = draw(st.sampled_from(("cpf", "dif", "cec", "topups", HELD, "c2p")))
    line: dict[str, Any] = {"on": on.isoformat(), "account": account,
                            "amount": draw(st.integers(-3_000, 9_000)),
                            "unit": HOURS if on < dt.date(2019, 1, 1) else EUR, "kind": "test"}
    if account in ("topups", HELD) and draw(st.booleans()):
        line["grant_id"] = draw(st.sampled_from(("g1", "g2")))
        line["bucket"] = "topups"
    elif account == HELD:
        line["bucket"] = "cpf"
    return Posted(posting=line)


GRANTS = st.one_of(
    st.builds(lambda grant_id, day: GrantOpened(grant={"grant_id": grant_id,
                                                       "expires_on": day.isoformat()}),
              st.sampled_from(("g1", "g2")), DAYS),
    st.builds(lambda day: GrantWithdrawn(grant_id="g1", withdrawn_on=day.isoformat()), DAYS),
)
FOLD_STEPS = st.lists(st.one_of(a_posting(), a_posting(), GRANTS, DAYS), max_size=25)


def folded(state: PersonState, steps: list[Change | dt.date]) -> PersonState:
    """Apply the changes; a day folds the state's balances as of it (the memo advances)."""
    for step in steps:
        if isinstance(step, dt.date):
            book_on(state, step, PARAMETERS)
        elif not (isinstance(step, GrantWithdrawn) and step.grant_id not in state.grants):
            evolve(state, [step])
    return state


@settings(max_examples=300, deadline=None)
@given(FOLD_STEPS, FOLD_STEPS, DAYS)
def test_a_loaded_state_folds_on_from_its_snapshot_as_a_whole_fold_does(
    before: list[Change | dt.date], after: list[Change | dt.date], last: dt.date
) -> None:
    """A snapshot keeps the state's fold; the loaded state goes on from it, with the postings
    and grants recorded since, to the balances a fold of the whole history gives."""
    state = folded(PersonState(person_key="p"), before)
    loaded = round_trip(state)
    assert (loaded.fold_checkpoint is not None) == (state.fold_memo is not None)
    folded(loaded, after)
    whole = fold(loaded.postings, loaded.grants, last, PARAMETERS)
    assert book_on(loaded, last, PARAMETERS) == whole
    again = round_trip(loaded)  # a snapshot of a snapshot's fold, used or not
    assert book_on(again, last, PARAMETERS) == whole


def test_a_year_close_after_a_load_folds_only_what_came_since_the_snapshot() -> None:
    """The fold a snapshot kept is the one the next fold goes on from: the postings it
    covered are not folded again (a plain fold of them all would give other balances)."""
    state = PersonState(person_key="p")
    evolve(state, [posted(year) for year in range(2016, 2021)])
    book_on(state, dt.date(2021, 12, 31), PARAMETERS)
    loaded = round_trip(state)
    stored = loaded.take_fold_checkpoint()
    assert stored is not None and stored["count"] == 5
    stored["balances"]["cpf"] += 1  # marks the stored fold as the one used
    loaded.fold_checkpoint = stored
    evolve(loaded, [posted(2021)])
    book = book_on(loaded, dt.date(2022, 12, 31), PARAMETERS)
    whole = fold(loaded.postings, loaded.grants, dt.date(2022, 12, 31), PARAMETERS)
    assert book.balances["cpf"] == whole.balances["cpf"] + 1
    assert loaded.fold_checkpoint is None and loaded.fold_memo.count == 6


def test_a_fold_kept_under_other_rules_is_not_gone_on_from() -> None:
    """A rulebook whose euro switch or 2019 conversion rates differ from those a snapshot's
    fold was made under folds the whole history again."""
    state = PersonState(person_key="p")
    evolve(state, [posted(year) for year in range(2016, 2021)])
    book_on(state, dt.date(2021, 12, 31), PARAMETERS)
    loaded = round_trip(state)
    stored = loaded.take_fold_checkpoint()
    assert stored is not None
    stored["balances"]["cpf"] += 1
    stored["rules"] = "2019-01-01/1/1/1/1"
    loaded.fold_checkpoint = stored
    book = book_on(loaded, dt.date(2022, 12, 31), PARAMETERS)
    assert book == fold(loaded.postings, loaded.grants, dt.date(2022, 12, 31), PARAMETERS)
