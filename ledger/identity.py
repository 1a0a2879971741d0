"""Person identifiers (contract §2): NIR/NIA validation and the keyed person hash.

The ledger never stores an identifier in clear: every store and projection is keyed by
`person_key(identifier, secret)`, an HMAC-SHA-256 of the validated identifier.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import uuid

from ledger.outcomes import Reason

IDENTIFIER_LENGTH = 15
AGGREGATE_IDS_CACHED_MAX = 100_000
_SHAPE = re.compile(r"^[123478][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]{6}[0-9]{2}$")
# Corsican departments are read as numbers for the key: 2A -> 19, 2B -> 18.
_CORSICA = {"2A": "19", "2B": "18"}
KEY_MODULUS = 97


class InvalidPerson(ValueError):
    """The identifier has the wrong shape or a wrong key (reason `invalid_person`)."""

    reason = Reason.INVALID_PERSON


def control_key(body: str) -> int:
    """The 2-digit key of a 13-character NIR/NIA body: 97 - (N mod 97)."""
    department = body[5:7]
    digits = body[:5] + _CORSICA.get(department, department) + body[7:]
    return KEY_MODULUS - int(digits) % KEY_MODULUS


def normalise(identifier: str) -> str:
    """The identifier, validated: raises InvalidPerson on a wrong shape or key."""
    candidate = identifier.strip().upper() if isinstance(identifier, str) else ""
    if len(candidate) != IDENTIFIER_LENGTH or not _SHAPE.match(candidate):
        shown = json.dumps(identifier if isinstance(identifier, str) else str(identifier))
        raise InvalidPerson(f"identifier must be 13 characters and a 2-digit key: {shown}")
    if control_key(candidate[:13]) != int(candidate[13:]):
        raise InvalidPerson("identifier key does not match (97 - N mod 97)")
    return candidate


def is_valid(identifier: str) -> bool:
    try:
        normalise(identifier)
    except InvalidPerson:
        return False
    return True


def with_key(body: str) -> str:
    """A full identifier from a 13-character body (used by the demo and the tests)."""
    return f"{body}{control_key(body):02d}"


def person_key(identifier: str, secret: bytes) -> str:
    """The keyed hash that stands for the person everywhere in the ledger (hex)."""
    return hmac.new(secret, normalise(identifier).encode("ascii"), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=AGGREGATE_IDS_CACHED_MAX)
def aggregate_id(key: str) -> uuid.UUID:
    """The event-store id of a person's aggregate: the first 128 bits of the person key.
    (Remembered: a batch asks for each person's several times, and parsing costs more than
    the lookup.)"""
    return uuid.UUID(hex=key[:32])
