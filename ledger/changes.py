"""The changes a decision records: one class per kind, and their one codec.

A change is the unit of `ledger.state.evolve`. It is stored inside a `PersonAccount.Applied`
event as a JSON object whose `"kind"` member names its class (msgspec's tagged union), so the
stored bytes are those of the dict-shaped changes written before these classes existed, and
those old events decode to the classes below.

The members inside a change (a posting, a grant, an order, a fact's data, an absorbed state)
stay plain JSON objects: the rules and the read models fold them as such.

Field order is the stored order (msgspec writes fields in declaration order, orjson wrote the
dicts in insertion order): do not reorder fields. Optional members are absent, not null.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import msgspec

Posting = dict[str, Any]
JsonObject = dict[str, Any]


class Change(msgspec.Struct, tag_field="kind", kw_only=True, omit_defaults=True, frozen=True):
    """A recorded change; its stored `"kind"` is the class's `kind`."""

    kind: ClassVar[str]


class FactRecorded(Change, frozen=True, tag="fact_recorded"):
    key: str
    type: str
    data: JsonObject
    published_on: str


class FactRemoved(Change, frozen=True, tag="fact_removed"):
    key: str
    why: str


class Posted(Change, frozen=True, tag="posted"):
    posting: Posting


class YearSettled(Change, frozen=True, tag="year_settled"):
    year: int
    entitled: int
    credited: int
    unit: str
    settled_on: str
    explanation: JsonObject | None = None


class PublicYearSettled(Change, frozen=True, tag="public_year_settled", kw_only=True):
    year: int
    entitled: int
    credited: int
    step_balance: int | None = None
    settled_on: str


class CreditSettled(Change, frozen=True, tag="credit_settled"):
    key: str
    amount: int
    unit: str
    on: str | None = None


class GrantOpened(Change, frozen=True, tag="grant_opened"):
    grant: JsonObject


class GrantWithdrawn(Change, frozen=True, tag="grant_withdrawn"):
    grant_id: str
    withdrawn_on: str


class OrderPlaced(Change, frozen=True, tag="order_placed"):
    order: JsonObject


class OrderUpdated(Change, frozen=True, tag="order_updated"):
    order_id: str
    fields: JsonObject


class C2pUsed(Change, frozen=True, tag="c2p_used"):
    use: JsonObject


class StatusChanged(Change, frozen=True, tag="status_changed"):
    """The status dates that changed; the others are absent."""

    birth_date: str | None = None
    retired_on: str | None = None
    public_frozen_on: str | None = None
    died_on: str | None = None
    merged_into: str | None = None


class Absorbed(Change, frozen=True, tag="absorbed"):
    """Another identifier's whole state, moved here by an identity merge."""

    absorbed_key: str
    state: JsonObject


AnyChange = (FactRecorded | FactRemoved | Posted | YearSettled | PublicYearSettled
             | CreditSettled | GrantOpened | GrantWithdrawn | OrderPlaced | OrderUpdated
             | C2pUsed | StatusChanged | Absorbed)
CHANGE_CLASSES: tuple[type[Change], ...] = (
    FactRecorded, FactRemoved, Posted, YearSettled, PublicYearSettled, CreditSettled,
    GrantOpened, GrantWithdrawn, OrderPlaced, OrderUpdated, C2pUsed, StatusChanged, Absorbed,
)

for _class in CHANGE_CLASSES:
    _class.kind = str(_class.__struct_config__.tag)


class UnreadableChange(ValueError):
    """A stored or given change that matches no class (unknown kind, missing or mistyped
    member)."""


class AppliedState(msgspec.Struct):
    """The stored state of a `PersonAccount.Applied` event, decoded and validated in one pass."""

    timestamp: dt.datetime
    source: str
    message_id: str
    message_type: str
    changes: list[AnyChange]
    notes: list[str]


_APPLIED_DECODER = msgspec.json.Decoder(AppliedState)
_CHANGES_DECODER = msgspec.json.Decoder(list[AnyChange])
_ENCODER = msgspec.json.Encoder()


def decode_applied(data: bytes) -> dict[str, Any]:
    """An `Applied` event's stored bytes as the event's attributes, changes typed."""
    try:
        state = _APPLIED_DECODER.decode(data)
    except msgspec.DecodeError as error:  # not JSON, or not an Applied event's shape
        raise UnreadableChange(str(error)) from error
    return {"timestamp": state.timestamp, "source": state.source,
            "message_id": state.message_id, "message_type": state.message_type,
            "changes": state.changes, "notes": state.notes}


def decode_changes(data: bytes) -> list[AnyChange]:
    """A JSON array of changes (dict-shaped, as stored) as typed changes."""
    try:
        return _CHANGES_DECODER.decode(data)
    except msgspec.DecodeError as error:
        raise UnreadableChange(str(error)) from error


def from_builtins(document: Any) -> AnyChange:
    """A dict-shaped change (`{"kind": ..., ...}`) as its typed change."""
    if isinstance(document, Change):
        return document  # type: ignore[return-value]
    try:
        change: AnyChange = msgspec.convert(document, AnyChange)
        return change
    except msgspec.ValidationError as error:
        raise UnreadableChange(str(error)) from error


def to_builtins(change: Change) -> dict[str, Any]:
    """A typed change as the dict it is stored as (`"kind"` first)."""
    document = msgspec.to_builtins(change)
    assert isinstance(document, dict)
    return document


def encode(document: Any) -> bytes:
    """Compact JSON of plain data that may hold typed changes; a datetime is written as its
    `isoformat()` by the caller (orjson's RFC 3339 form, which stored events keep)."""
    return _ENCODER.encode(document)
