"""A person's snapshot as stored: the state's document, with its long-career parts left encoded.

A snapshot holds the whole state. Decoding all of it on every load grew with the career (9 kB at
the median after twelve years, about 100 µs per 10 kB with the fact index), although deciding a
message of an open year reads none of the settled years' facts and, most often, no posting. So
the stored document keeps those apart:

- `"facts"`: the facts a decision of an open year reads (every fact but the accrual facts of
  settled years); `"cold_facts"`: the others, by key, and `"cold_years"`: their years;
- `"postings"`: every posting, as before;
- `"fold"`: the balances fold as far as the state had taken it (`ledger.rules.book.stored_fold`:
  the first `count` postings folded, the balances, holds and grants then), when it had one or
  its snapshot kept one. The year close folds every person's postings for the ceiling; a
  person loaded from a snapshot goes on from this fold with the postings recorded since,
  instead of folding the whole career again.

The decoder (msgspec, one pass) decodes the hot parts and keeps `"cold_facts"`' values and
`"postings"` as raw JSON (`msgspec.Raw`: scanned, not built); `PersonState` decodes each when
something reads it (`PersonState.facts`, `.postings`). The encoder writes raw parts back as they
are. A snapshot written before this layout (all facts under `"facts"`) loads as a state with no
cold part.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ledger.rules.book import stored_fold
from ledger.state import PersonState, fact_year, is_cold_eligible

EMPTY_ARRAY = b"[]"
NULL = b"null"


class StoredState(msgspec.Struct):
    """A person state's stored document, as the decoder reads it (field names are stored)."""

    person_key: str = ""
    facts: dict[str, dict[str, Any]] = {}
    inactive: dict[str, str] = {}
    postings: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(EMPTY_ARRAY))
    years: dict[str, dict[str, Any]] = {}
    public_years: dict[str, dict[str, Any]] = {}
    credited: dict[str, dict[str, Any]] = {}
    grants: dict[str, dict[str, Any]] = {}
    orders: dict[str, dict[str, Any]] = {}
    c2p_uses: list[dict[str, Any]] = []
    birth_date: str | None = None
    retired_on: str | None = None
    public_frozen_on: str | None = None
    died_on: str | None = None
    merged_into: str | None = None
    absorbed: list[str] = []
    seq: int = 0
    cold_facts: dict[str, msgspec.Raw] = {}
    cold_years: list[int] = []
    # Decoded when something folds (`PersonState.take_fold_checkpoint`); null: none kept.
    fold: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(NULL))


class StoredAccount(msgspec.Struct):
    """`PersonSnapshot.state`: the account's own attributes around its person state."""

    person_key: str
    state: StoredState
    created_on: str
    modified_on: str


class StoredSnapshot(msgspec.Struct):
    """A `PersonSnapshot` event's stored state (eventsourcing's attributes but its ids)."""

    timestamp: str
    topic: str
    state: StoredAccount


_DECODER = msgspec.json.Decoder(StoredSnapshot)
_ENCODER = msgspec.json.Encoder()


def decode(data: bytes) -> StoredSnapshot:
    return _DECODER.decode(data)


def encode(document: dict[str, Any]) -> bytes:
    """A snapshot event's attributes (its state's person state as `stored_document` made it)."""
    return _ENCODER.encode(document)


def stored_document(state: PersonState) -> dict[str, Any]:
    """The state's stored document: its own values (not copies, encoded at once), the accrual
    facts of settled years apart and left encoded when they still are. Those it encodes now
    stay encoded in the state too, as a load of this snapshot would have them (`keep_cold`):
    a person held in memory for years is not encoded again whole at every snapshot."""
    hot: dict[str, dict[str, Any]] = {}
    cold: dict[str, Any] = dict(state.cold_facts)
    years = set(state.cold_years)
    for key, fact in state.hot_facts.items():
        if is_cold_eligible(fact, state.years):
            cold[key] = msgspec.Raw(_ENCODER.encode(fact))
            years.add(int(fact_year(fact["type"], fact["data"]) or 0))
        else:
            hot[key] = fact
    document = state.document(hot, _postings(state))
    if cold:
        document["cold_facts"] = cold
        document["cold_years"] = sorted(years)
        keep_cold(state, cold, years)
    fold = stored_fold(state.fold_memo) if state.fold_memo is not None else state.fold_checkpoint
    if fold is not None:
        document["fold"] = fold
    return document


def keep_cold(state: PersonState, cold: dict[str, Any], years: set[int]) -> None:
    """The state keeps these settled years' facts encoded (`cold`: every cold fact, by key),
    out of its hot facts and their index, until something reads them."""
    for key in cold.keys() - state.cold_facts.keys():
        state.index.remove(key, state.hot_facts.pop(key))
    state.cold_facts = cold
    state.cold_years = frozenset(years)


def _postings(state: PersonState) -> Any:
    if state.cold_postings is None:
        return state.hot_postings
    if not state.hot_postings:
        return state.cold_postings
    return msgspec.Raw(join_arrays(bytes(state.cold_postings), _ENCODER.encode(state.hot_postings)))


def join_arrays(first: bytes, second: bytes) -> bytes:
    """Two JSON arrays' bytes as one array's."""
    first, second = first.strip(), second.strip()
    if first == EMPTY_ARRAY:
        return second
    if second == EMPTY_ARRAY:
        return first
    return first[:-1] + b"," + second[1:]


def adopt(stored: StoredState) -> PersonState:
    """A state made of a decoded document's own values, its cold parts still encoded."""
    state = PersonState(
        person_key=stored.person_key, hot_facts=stored.facts, inactive=stored.inactive,
        years=stored.years, public_years=stored.public_years, credited=stored.credited,
        grants=stored.grants, orders=stored.orders, c2p_uses=stored.c2p_uses,
        birth_date=stored.birth_date, retired_on=stored.retired_on,
        public_frozen_on=stored.public_frozen_on, died_on=stored.died_on,
        merged_into=stored.merged_into, absorbed=stored.absorbed, seq=stored.seq,
        cold_facts=stored.cold_facts, cold_years=frozenset(stored.cold_years),
        cold_postings=None if len(stored.postings) <= len(EMPTY_ARRAY) else stored.postings,
        fold_checkpoint=None if bytes(stored.fold) == NULL else stored.fold,
    )
    state.reindex()
    return state
