"""Stored state as JSON bytes, for events and snapshots.

Event state is plain JSON data except the event's `timestamp`, which orjson writes as RFC 3339
and which is read back as a datetime. Everything else the ledger stores is built from str, int,
bool, list and dict with str keys, so nothing else needs a type tag.

A person's `Applied` events (nearly every stored event) hold typed changes: `LedgerMapper`
encodes and decodes them with `ledger.changes` (msgspec decodes and validates them in one pass,
2.4x faster than orjson's dicts: `python -m tests.bench.bench_changes`), writing the same bytes
as orjson wrote. Other events and snapshots go through orjson.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Hashable
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

from ledger import changes
from ledger.domain import PersonAccount

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


class LedgerMapper(Mapper[uuid.UUID]):
    """eventsourcing's mapper, with `Applied` events through the typed changes' codec (then
    the compressor and the cipher, when configured, as eventsourcing applies them)."""

    def to_stored_event(self, domain_event: DomainEventProtocol[uuid.UUID]) -> StoredEvent:
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
        state = changes.encode(document)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(originator_id=attributes["originator_id"],
                           originator_version=attributes["originator_version"],
                           topic=_APPLIED_TOPIC, state=state)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[uuid.UUID]:
        if stored_event.topic != _APPLIED_TOPIC:
            return super().to_domain_event(stored_event)
        try:
            state = stored_event.state
            if self.cipher:
                state = self.cipher.decrypt(state)
            if self.compressor:
                state = self.compressor.decompress(state)
            attributes = changes.decode_applied(state)
        except Exception as error:  # as eventsourcing's mapper reports any of these
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic '{stored_event.topic}',"
                f" originator_id '{stored_event.originator_id}' and originator_version"
                f" {stored_event.originator_version}: {error}") from error
        convert = find_id_convertor(_APPLIED, _id_type(stored_event.originator_id))
        attributes["originator_id"] = convert(stored_event.originator_id)
        attributes["originator_version"] = stored_event.originator_version
        event = object.__new__(_APPLIED)
        object.__setattr__(event, "__dict__", attributes)
        return event


def _id_type(originator_id: uuid.UUID | str) -> Hashable:
    return cast(Hashable, type(originator_id))
