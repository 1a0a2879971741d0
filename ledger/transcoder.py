"""Stored state as JSON bytes with orjson (fast, compact), for events and snapshots.

Event state is plain JSON data except the event's `timestamp`, which orjson writes as RFC 3339
and which is read back as a datetime. Everything else the ledger stores is built from str, int,
bool, list and dict with str keys, so nothing else needs a type tag.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from eventsourcing.persistence import Transcoder

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
