"""Opaque cursors: base64url of a small JSON object that only this service reads.

A cursor is bound to the query it came from (a fingerprint of the person and filters), so that
it cannot be replayed against another query; a cursor that does not decode, or that belongs to
another query, is a 400 `invalid_cursor`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import orjson

from ledger.http import limits
from ledger.http.problems import bad_parameter

FINGERPRINT_CHARS = 16


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(orjson.dumps([str(part) for part in parts])).hexdigest()[
        :FINGERPRINT_CHARS]


def encode(fields: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(fields)).decode("ascii").rstrip("=")


def decode(cursor: str, query_fingerprint: str) -> dict[str, Any]:
    """The cursor's fields, checked to belong to this query."""
    if len(cursor) > limits.CURSOR_LENGTH_MAX_CHARS:
        raise bad_parameter("cursor is not one this service gave", "invalid_cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        fields = orjson.loads(raw)
    except (binascii.Error, ValueError) as error:
        raise bad_parameter("cursor is not one this service gave", "invalid_cursor") from error
    if not isinstance(fields, dict) or fields.get("q") != query_fingerprint:
        raise bad_parameter("cursor belongs to another query (person or filters differ)",
                            "invalid_cursor")
    return fields


def integer(fields: dict[str, Any], name: str) -> int:
    value = fields.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise bad_parameter("cursor is not one this service gave", "invalid_cursor")
    return value


def text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str):
        raise bad_parameter("cursor is not one this service gave", "invalid_cursor")
    return value
