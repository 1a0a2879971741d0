"""The feed contract as JSON Schema files, compiled once: `parse`/`validate` return a typed
Message or a Rejection with a reason code (contract §1-§4).

The files (`envelope.v1.json`, `<type>.v1.json`) are the published contract; the schema of
`data` of each type is separate from the envelope so that both can be reused by OpenAPI.
"""

from __future__ import annotations

import copy
from typing import Any

from schemas.model import Message, Reason, Rejection
from schemas.registry import MessageSchema
from schemas.validation import (
    ENVELOPE_DOCUMENT,
    MESSAGE_SIZE_MAX_BYTES,
    SUPPORTED,
    parse,
    validate,
)

__all__ = [
    "MESSAGE_SIZE_MAX_BYTES",
    "SUPPORTED",
    "Message",
    "MessageSchema",
    "Reason",
    "Rejection",
    "envelope_document",
    "parse",
    "schema_document",
    "validate",
]


def schema_document(type_: str, version: int) -> dict[str, Any]:
    """A copy of the JSON Schema of `data` for (type, version); KeyError when not supported."""
    schema = SUPPORTED.get((type_, version))
    if schema is None:
        raise KeyError(f"no schema for {type_} version {version}")
    return copy.deepcopy(dict(schema.document))


def envelope_document() -> dict[str, Any]:
    """A copy of the JSON Schema of the envelope."""
    return copy.deepcopy(dict(ENVELOPE_DOCUMENT))
