"""A person's account state and `evolve`: how each recorded change updates it.

The state is plain data (str keys, ints, strings, lists, dicts) so that it snapshots as JSON.
Changes are the payload of recorded events; `evolve` is the only code that mutates a state,
and it is deterministic: replaying the same changes always rebuilds the same state.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ledger.changes import (
    Absorbed,
    AnyChange,
    C2pUsed,
    Change,
    CreditSettled,
    FactRecorded,
    FactRemoved,
    GrantOpened,
    GrantWithdrawn,
    OrderPlaced,
    OrderUpdated,
    Posted,
    Posting,
    PublicYearSettled,
    StatusChanged,
    YearSettled,
)

__all__ = ["AnyChange", "Change", "PersonState", "Posting", "evolve", "evolve_recorded", "stamped"]

# A state's part a loaded snapshot leaves encoded until something reads it: raw JSON.
Encoded = msgspec.Raw

ACCOUNTS = ("cpf", "dif", "cec", "topups", "c2p", "cpf_public")
HELD = "held"
ACCRUAL_FACT_TYPES = ("employment.declared", "self_employment.declared")
EMPLOYMENT_TYPE = "employment.declared"
# Employment regimes indexed on their own (the public counter's periods, ESAT work): the
# account document reads them on every projected event, and most careers have none.
INDEXED_REGIMES = ("public", "esat")


def fact_year(fact_type: str, data: Mapping[str, Any]) -> int | None:
    """The acquisition year a fact feeds, if it feeds one."""
    if fact_type == "employment.declared":
        return int(str(data["period_start"])[:4])
    if fact_type == "self_employment.declared":
        return int(data["year"])
    return None


@dataclass(slots=True)
class FactIndex:
    """The active facts' keys by type and by acquisition year, in the facts' own order, so
    that a decision reads the facts it needs rather than scanning a whole career. Derived
    from `PersonState.facts`: never stored, rebuilt when a state is loaded."""

    by_type: dict[str, dict[str, None]] = field(default_factory=dict)
    by_year: dict[int, dict[str, None]] = field(default_factory=dict)
    # Employment facts of the `INDEXED_REGIMES`, by regime (a sub-order of `by_type`'s).
    by_regime: dict[str, dict[str, None]] = field(default_factory=dict)

    def add(self, key: str, fact: Mapping[str, Any]) -> None:
        self.by_type.setdefault(fact["type"], {})[key] = None
        year = fact_year(fact["type"], fact["data"])
        if year is not None:
            self.by_year.setdefault(year, {})[key] = None
        regime = _indexed_regime(fact)
        if regime is not None:
            self.by_regime.setdefault(regime, {})[key] = None

    def remove(self, key: str, fact: Mapping[str, Any]) -> None:
        keys = self.by_type.get(fact["type"], {})
        keys.pop(key, None)
        year = fact_year(fact["type"], fact["data"])
        if year is not None:
            year_keys = self.by_year.get(year, {})
            year_keys.pop(key, None)
            if not year_keys:
                self.by_year.pop(year, None)
        regime = _indexed_regime(fact)
        if regime is not None:
            self.by_regime.get(regime, {}).pop(key, None)


def _indexed_regime(fact: Mapping[str, Any]) -> str | None:
    if fact["type"] != EMPLOYMENT_TYPE:
        return None
    regime = fact["data"].get("regime")
    return regime if regime in INDEXED_REGIMES else None


@dataclass(slots=True)
class PersonState:
    """Everything the rules need to decide the next message of one person.

    A state loaded from a snapshot keeps two parts of a long career encoded until something
    reads them (`ledger.snapshots`): the facts of the acquisition years already settled
    (`cold_facts`, each fact's JSON by key, with `cold_years`) and the postings
    (`cold_postings`). Deciding an open year's message reads neither, so a load decodes what
    the person's open years hold, not their whole history. `facts` and `postings` are the whole
    of them: reading either decodes its cold part first (`thaw_facts`, `thaw_postings`).
    """

    person_key: str = ""
    # Active facts by "source/message_id": {"type", "data", "published_on", "seq"} (see `facts`).
    hot_facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Facts no longer in force (superseded or retracted), by key -> why.
    inactive: dict[str, str] = field(default_factory=dict)
    # Every posting, in recording order (balances fold them by effective date); see `postings`.
    hot_postings: list[Posting] = field(default_factory=list)
    # Settled accrual years: "2019" -> {"entitled", "credited", "unit", "settled_on"}.
    years: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The same for the public counter (rules §10.3), in hours; only years with public facts.
    public_years: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Derived credits already posted, by key ("cec/<activity>/<year>", "c2p/<year>Q<n>", "dif").
    credited: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    c2p_uses: list[dict[str, Any]] = field(default_factory=list)
    birth_date: str | None = None
    retired_on: str | None = None
    # The day the public counter froze (rules §10.6), when a retirement froze it.
    public_frozen_on: str | None = None
    died_on: str | None = None
    merged_into: str | None = None
    absorbed: list[str] = field(default_factory=list)
    seq: int = 0
    # The hot facts' index (the cold facts are never of the types and regimes it is read for
    # directly: see `is_cold_eligible`); read facts through the methods below.
    index: FactIndex = field(default_factory=FactIndex)
    # The balances fold so far (`ledger.rules.book.FoldMemo`), and the one a snapshot kept
    # (`ledger.rules.book.stored_fold`), restored when something folds (`book_on`).
    fold_memo: Any = None
    fold_checkpoint: Encoded | dict[str, Any] | None = None
    # Encoded facts of settled years by key, and those years; encoded postings recorded before
    # `hot_postings` (None: none, or decoded already).
    cold_facts: dict[str, Encoded] = field(default_factory=dict)
    cold_years: frozenset[int] = frozenset()
    cold_postings: Encoded | None = None

    @property
    def facts(self) -> dict[str, dict[str, Any]]:
        """Every active fact, by key, in recording order."""
        if self.cold_facts:
            self.thaw_facts()
        return self.hot_facts

    @property
    def postings(self) -> list[Posting]:
        """Every posting, in recording order."""
        if self.cold_postings is not None:
            self.thaw_postings()
        return self.hot_postings

    def thaw_facts(self) -> None:
        """Decode the cold facts into `hot_facts`, in recording order, and index them."""
        thawed = {key: decode_json(encoded) for key, encoded in self.cold_facts.items()}
        self.hot_facts = in_recording_order(thawed, self.hot_facts)
        self.cold_facts, self.cold_years = {}, frozenset()
        self.reindex()

    def reindex(self) -> None:
        """Index the hot facts anew (a state is loaded or its cold facts decoded)."""
        self.index = FactIndex()
        for key, fact in self.hot_facts.items():
            self.index.add(key, fact)

    def thaw_postings(self) -> None:
        if self.cold_postings is not None:
            self.hot_postings[:0] = decode_json(self.cold_postings)
            self.cold_postings = None

    def fact(self, key: str) -> dict[str, Any] | None:
        """The active fact of this key, if any (decoding the cold facts only when it is one)."""
        if key in self.cold_facts:
            self.thaw_facts()
        return self.hot_facts.get(key)

    def take_fold_checkpoint(self) -> dict[str, Any] | None:
        """The fold the snapshot kept, decoded (most loads never fold: it stays encoded
        until one does); taken once, since the live fold then replaces it."""
        stored, self.fold_checkpoint = self.fold_checkpoint, None
        return decode_json(stored) if isinstance(stored, msgspec.Raw) else stored

    def to_json(self) -> dict[str, Any]:
        return {name: copy.deepcopy(value) for name, value in self.as_stored().items()}

    def as_stored(self) -> dict[str, Any]:
        """The state's own values, not copies: for a snapshot encoded at once (copying a long
        career's state costs more than encoding it)."""
        return self.document(self.facts, self.postings)

    def document(self, facts: Any, postings: Any) -> dict[str, Any]:
        """The stored fields in their stored order, with these facts and postings (the whole
        of them, or a snapshot's hot and raw parts: `ledger.snapshots`)."""
        parts = {"facts": facts, "postings": postings}
        return {name: parts[name] if name in parts else getattr(self, name)
                for name in STORED_ORDER}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> PersonState:
        return cls.adopt({name: copy.deepcopy(value) for name, value in document.items()})

    @classmethod
    def adopt(cls, document: Mapping[str, Any]) -> PersonState:
        """A state made of a freshly decoded document's own values (no copy)."""
        state = cls()
        for name in STORED_FIELDS:
            if name in document:
                setattr(state, name, document[name])
        state.hot_facts = document.get("facts", state.hot_facts)
        if document.get("cold_facts"):  # a snapshot's document decoded whole
            state.hot_facts = in_recording_order(document["cold_facts"], state.hot_facts)
        state.hot_postings = document.get("postings", state.hot_postings)
        state.fold_checkpoint = document.get("fold")
        state.reindex()
        return state

    def facts_of_type(self, fact_type: str) -> list[dict[str, Any]]:
        """The active facts of one type, in recording order."""
        if self.cold_facts and fact_type in ACCRUAL_FACT_TYPES:
            self.thaw_facts()
        return [self.hot_facts[key] for key in self.index.by_type.get(fact_type, ())]

    def has_facts_of_type(self, fact_type: str) -> bool:
        if self.index.by_type.get(fact_type):
            return True
        return bool(self.facts_of_type(fact_type)) if fact_type in ACCRUAL_FACT_TYPES else False

    def accrual_years(self) -> set[int]:
        """The acquisition years that active facts feed."""
        return set(self.index.by_year) | self.cold_years

    def facts_for_year(self, year: int, also: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
        """The active facts feeding `year`, with those of the types in `also` (any year)."""
        also = tuple(also)
        if self.cold_facts and (year in self.cold_years
                                or any(kind in ACCRUAL_FACT_TYPES for kind in also)):
            self.thaw_facts()
        keys = list(self.index.by_year.get(year, ()))
        for fact_type in also:
            keys.extend(self.index.by_type.get(fact_type, ()))
        return {key: self.hot_facts[key] for key in keys}

    def clone(self) -> PersonState:
        return PersonState.from_json(self.to_json())


def in_recording_order(*parts: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Facts by key from several parts, in the order they were recorded (their `seq`)."""
    merged = {key: fact for part in parts for key, fact in part.items()}
    return dict(sorted(merged.items(), key=lambda item: int(item[1]["seq"])))


def is_cold_eligible(fact: Mapping[str, Any], settled_years: Mapping[str, Any]) -> bool:
    """Whether a snapshot may leave this fact encoded: an accrual fact (employment or
    self-employment, neither of the `INDEXED_REGIMES`) of an acquisition year settled already."""
    if fact["type"] not in ACCRUAL_FACT_TYPES or _indexed_regime(fact) is not None:
        return False
    return str(fact_year(fact["type"], fact["data"])) in settled_years


def decode_json(encoded: Encoded) -> Any:
    return msgspec.json.decode(encoded)


# The stored fields, by their stored names (`facts` and `postings` apart: both have a hot and
# a cold part in memory).
STORED_FIELDS = ("person_key", "inactive", "years", "public_years", "credited", "grants",
                 "orders", "c2p_uses", "birth_date", "retired_on", "public_frozen_on", "died_on",
                 "merged_into", "absorbed", "seq")
STORED_ORDER = ("person_key", "facts", "inactive", "postings", *STORED_FIELDS[2:])


def stamped(changes: Iterable[AnyChange], recorded_at: str) -> list[AnyChange]:
    """Changes as an account applies them: the postings they bring (their own, or those an
    identity merge moves in) carry the time this account learnt of them (for `known_at`)."""
    return [_stamp(change, recorded_at) for change in changes]


def _stamp(change: AnyChange, recorded_at: str) -> AnyChange:
    if isinstance(change, Posted):
        return Posted(posting={**change.posting, "recorded_at": recorded_at})
    if isinstance(change, Absorbed):
        moved = [{**p, "recorded_at": recorded_at} for p in change.state["postings"]]
        return msgspec.structs.replace(change, state={**change.state, "postings": moved})
    return change


def evolve(state: PersonState, changes: Iterable[Change]) -> None:
    """Apply recorded changes to the state, in order."""
    for change in changes:
        _APPLY[type(change)](state, change)


def evolve_recorded(state: PersonState, changes: Iterable[AnyChange], recorded_at: str) -> None:
    """`evolve(state, stamped(changes, recorded_at))` without building the stamped changes (on
    the hot path of every event, written or loaded)."""
    for change in changes:
        if type(change) is Posted:
            state.hot_postings.append({**change.posting, "recorded_at": recorded_at})
        else:
            _APPLY[type(change)](state, _stamp(change, recorded_at))


def _fact_recorded(state: PersonState, change: FactRecorded) -> None:
    state.seq += 1
    key = change.key
    previous = state.fact(key)
    if previous is not None:  # recorded again: it moves to the end, as in the index
        state.index.remove(key, previous)
        del state.hot_facts[key]
    fact = {
        "type": change.type,
        "data": change.data,
        "published_on": change.published_on,
        "seq": state.seq,
    }
    state.hot_facts[key] = fact
    state.index.add(key, fact)


def _fact_removed(state: PersonState, change: FactRemoved) -> None:
    fact = state.fact(change.key)
    if fact is not None:
        del state.hot_facts[change.key]
        state.index.remove(change.key, fact)
    state.inactive[change.key] = change.why


def _posted(state: PersonState, change: Posted) -> None:
    state.hot_postings.append(change.posting)


def _year_settled(state: PersonState, change: YearSettled) -> None:
    state.years[str(change.year)] = {
        "entitled": change.entitled,
        "credited": change.credited,
        "unit": change.unit,
        "settled_on": change.settled_on,
    }


def _public_year_settled(state: PersonState, change: PublicYearSettled) -> None:
    state.public_years[str(change.year)] = {
        "entitled": change.entitled,
        "credited": change.credited,
        "settled_on": change.settled_on,
    }


def _credit_settled(state: PersonState, change: CreditSettled) -> None:
    state.credited[change.key] = {"amount": change.amount, "unit": change.unit, "on": change.on}


def _grant_opened(state: PersonState, change: GrantOpened) -> None:
    state.grants[change.grant["grant_id"]] = dict(change.grant)


def _grant_withdrawn(state: PersonState, change: GrantWithdrawn) -> None:
    state.grants[change.grant_id]["withdrawn_on"] = change.withdrawn_on


def _order_placed(state: PersonState, change: OrderPlaced) -> None:
    state.orders[change.order["order_id"]] = dict(change.order)


def _order_updated(state: PersonState, change: OrderUpdated) -> None:
    state.orders[change.order_id].update(change.fields)


def _c2p_used(state: PersonState, change: C2pUsed) -> None:
    state.c2p_uses.append(dict(change.use))


_STATUS_FIELDS = ("birth_date", "retired_on", "public_frozen_on", "died_on", "merged_into")


def _status_changed(state: PersonState, change: StatusChanged) -> None:
    for name in _STATUS_FIELDS:
        value = getattr(change, name)
        if value is not None:
            setattr(state, name, value)


def _absorbed(state: PersonState, change: Absorbed) -> None:
    """Move another identifier's history into this account (identity merge)."""
    other = PersonState.from_json(change.state)
    state.absorbed.append(change.absorbed_key)
    state.absorbed.extend(other.absorbed)
    for key, fact in sorted(other.facts.items(), key=lambda item: item[1]["seq"]):
        state.seq += 1
        if key not in state.facts:
            state.facts[key] = {**fact, "seq": state.seq}
            state.index.add(key, state.facts[key])
    state.inactive.update({k: v for k, v in other.inactive.items() if k not in state.inactive})
    state.postings.extend(other.postings)
    _merge_years(state.years, other.years)
    _merge_public_years(state.public_years, other.public_years)
    _merge_credited(state.credited, other.credited)
    state.grants.update({k: v for k, v in other.grants.items() if k not in state.grants})
    state.orders.update({k: v for k, v in other.orders.items() if k not in state.orders})
    state.c2p_uses.extend(other.c2p_uses)
    state.birth_date = state.birth_date or other.birth_date


def _merge_years(mine: dict[str, dict[str, Any]], theirs: Mapping[str, dict[str, Any]]) -> None:
    for year, record in theirs.items():
        if year not in mine:
            mine[year] = dict(record)
        elif mine[year]["unit"] == record["unit"]:
            mine[year]["entitled"] += record["entitled"]
            mine[year]["credited"] += record["credited"]


def _merge_public_years(
    mine: dict[str, dict[str, Any]], theirs: Mapping[str, dict[str, Any]]
) -> None:
    for year, record in theirs.items():
        if year not in mine:
            mine[year] = dict(record)
        else:
            mine[year]["entitled"] += record["entitled"]
            mine[year]["credited"] += record["credited"]


def _merge_credited(mine: dict[str, dict[str, Any]], theirs: Mapping[str, dict[str, Any]]) -> None:
    for key, record in theirs.items():
        if key not in mine:
            mine[key] = dict(record)
        elif mine[key]["unit"] == record["unit"]:
            mine[key]["amount"] += record["amount"]


def _applier(apply: Callable[[PersonState, Any], None]) -> Callable[[PersonState, Change], None]:
    return apply


# How each class of change updates the state (the table covers every class: see the tests).
_APPLY: dict[type[Change], Callable[[PersonState, Change], None]] = {
    FactRecorded: _applier(_fact_recorded),
    FactRemoved: _applier(_fact_removed),
    Posted: _applier(_posted),
    YearSettled: _applier(_year_settled),
    PublicYearSettled: _applier(_public_year_settled),
    CreditSettled: _applier(_credit_settled),
    GrantOpened: _applier(_grant_opened),
    GrantWithdrawn: _applier(_grant_withdrawn),
    OrderPlaced: _applier(_order_placed),
    OrderUpdated: _applier(_order_updated),
    C2pUsed: _applier(_c2p_used),
    StatusChanged: _applier(_status_changed),
    Absorbed: _applier(_absorbed),
}
