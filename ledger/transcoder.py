"""Stored state as JSON bytes, for events and snapshots.

Event state is plain JSON data except the event's `timestamp`, which orjson writes as RFC 3339
and which is read back as a datetime. Everything else the ledger stores is built from str, int,
bool, list and dict with str keys, so nothing else needs a type tag.

A person's `Applied` events (nearly every stored event) hold typed changes: `LedgerMapper`
encodes and decodes them with `ledger.changes` (msgspec decodes and validates them in one pass,
2.4x faster than orjson's dicts: `python -m tests.bench.bench_changes`), writing the same bytes
as orjson wrote. A person's snapshots go through `ledger.snapshots` (msgspec, their long-career
parts left encoded until read). Other events go through orjson.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Hashable
from typing import Any, cast

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
    find_id_convertor,
)
from eventsourcing.utils import get_topic

from ledger import changes, snapshots
from ledger.domain import PersonAccount, PersonSnapshot

_TIMESTAMP = "timestamp"


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        document = orjson.loads(data)
        stamp = document.get(_TIMESTAMP) if isinstance(document, dict) else None
        if isinstance(stamp, str):
            document[_TIMESTAMP] = dt.datetime.fromisoformat(stamp)
        return document


_APPLIED = PersonAccount.Applied
_APPLIED_TOPIC = get_topic(_APPLIED)
_SNAPSHOT = PersonSnapshot
_SNAPSHOT_TOPIC = get_topic(_SNAPSHOT)


class LedgerMapper(Mapper[uuid.UUID]):
    """eventsourcing's mapper, with `Applied` events through the typed changes' codec (then
    the compressor and the cipher, when configured, as eventsourcing applies them)."""

    def to_stored_event(self, domain_event: DomainEventProtocol[uuid.UUID]) -> StoredEvent:
        if type(domain_event) is _SNAPSHOT:
            return self._snapshot_to_stored(domain_event)
        if type(domain_event) is not _APPLIED:
            return super().to_stored_event(domain_event)
        attributes = vars(domain_event)
        document = {  # in the stored order, the timestamp as orjson wrote it
            "timestamp": attributes["timestamp"].isoformat(),
            "source": attributes["source"],
            "message_id": attributes["message_id"],
            "message_type": attributes["message_type"],
            "changes": attributes["changes"],
            "notes": attributes["notes"],
        }
        return self._stored(attributes, _APPLIED_TOPIC, changes.encode(document))

    def _snapshot_to_stored(self, snapshot: DomainEventProtocol[uuid.UUID]) -> StoredEvent:
        """A person's snapshot through `ledger.snapshots` (its cold parts written as read)."""
        attributes = vars(snapshot)
        document = {"timestamp": attributes["timestamp"].isoformat(),
                    "topic": attributes["topic"], "state": attributes["state"]}
        return self._stored(attributes, _SNAPSHOT_TOPIC, snapshots.encode(document))

    def _stored(self, attributes: dict[str, Any], topic: str, state: bytes) -> StoredEvent:
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(originator_id=attributes["originator_id"],
                           originator_version=attributes["originator_version"],
                           topic=topic, state=state)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[uuid.UUID]:
        topic = stored_event.topic
        if topic == _APPLIED_TOPIC:
            return self._own_event(stored_event, _APPLIED, changes.decode_applied)
        if topic == _SNAPSHOT_TOPIC:
            return self._own_event(stored_event, _SNAPSHOT, _snapshot_attributes)
        return super().to_domain_event(stored_event)

    def _own_event(self, stored_event: StoredEvent, cls: type[Any],
                   decode: Callable[[bytes], dict[str, Any]]) -> DomainEventProtocol[uuid.UUID]:
        try:
            state = stored_event.state
            if self.cipher:
                state = self.cipher.decrypt(state)
            if self.compressor:
                state = self.compressor.decompress(state)
            attributes = decode(state)
        except Exception as error:  # as eventsourcing's mapper reports any of these
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic '{stored_event.topic}',"
                f" originator_id '{stored_event.originator_id}' and originator_version"
                f" {stored_event.originator_version}: {error}") from error
        convert = find_id_convertor(cast(Hashable, cls), _id_type(stored_event.originator_id))
        attributes["originator_id"] = convert(stored_event.originator_id)
        attributes["originator_version"] = stored_event.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", attributes)
        return cast(DomainEventProtocol[uuid.UUID], event)


def _snapshot_attributes(data: bytes) -> dict[str, Any]:
    stored = snapshots.decode(data)
    account = stored.state
    return {"timestamp": dt.datetime.fromisoformat(stored.timestamp), "topic": stored.topic,
            "state": {"person_key": account.person_key, "state": account.state,
                      "created_on": account.created_on, "modified_on": account.modified_on}}


def _id_type(originator_id: uuid.UUID | str) -> Hashable:
    return cast(Hashable, type(originator_id))
