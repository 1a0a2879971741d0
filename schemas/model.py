"""The typed outcome of validating one feed message: a Message, or a Rejection and its reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """The machine-readable codes a rejection by the schemas carries (contract §3)."""

    MALFORMED = "malformed"
    OVERSIZED = "oversized"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_VERSION = "unsupported_version"
    SCHEMA_VIOLATION = "schema_violation"
    INVALID_PERSON = "invalid_person"


@dataclass(frozen=True, slots=True)
class Message:
    """A message that passed the envelope and data schemas and the semantic checks."""

    message_id: str
    source: str
    type: str
    version: int
    person: str | None
    published_at: str
    published_on: str
    supersedes: str | None
    data: Mapping[str, Any]
    digest: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message refused before any business rule ran, with what could be read from it."""

    reason: str
    detail: str
    source: str | None
    message_id: str | None
    person: str | None
    digest: str | None


class RejectionError(Exception):
    """Stops validation at the first problem; turned into a Rejection at the module's edge."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def violation(detail: str) -> RejectionError:
    """A `schema_violation` naming the field and why."""
    return RejectionError(Reason.SCHEMA_VIOLATION, detail)
