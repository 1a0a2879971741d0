"""What the ledger answers for each message: its outcome, and for a rejection the reason code.

Both are `StrEnum`s: a member is the very string the contract names (§3), so receipts, reports,
HTTP documents and dead-letter headers carry the same bytes as before the enums.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class MessageOutcome(StrEnum):
    """The one recorded outcome of every message (contract §3)."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class Reason(StrEnum):
    """Every rejection reason code: the schemas' (`schemas.Reason`), the ledger's own and the
    rules' (a `Rejected` names one of them)."""

    # Before any rule (schemas.Reason: the same values).
    MALFORMED = "malformed"
    OVERSIZED = "oversized"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_VERSION = "unsupported_version"
    SCHEMA_VIOLATION = "schema_violation"
    INVALID_PERSON = "invalid_person"
    # Idempotency and facts.
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    UNKNOWN_SUPERSEDED = "unknown_superseded"
    UNKNOWN_RETRACTED = "unknown_retracted"
    # Dates and rulebook coverage.
    NOT_IN_FORCE = "not_in_force"
    FIELD_NOT_IN_FORCE = "field_not_in_force"
    INCONSISTENT_DATES = "inconsistent_dates"
    NOT_SUPPORTED = "not_supported"
    YEAR_ALREADY_CLOSED = "year_already_closed"
    # Account status.
    ACCOUNT_CLOSED = "account_closed"
    ACCOUNT_FROZEN = "account_frozen"
    ALREADY_MERGED = "already_merged"
    ALREADY_RETIRED = "already_retired"
    # DIF, top-ups, orders, conversions.
    DIF_ALREADY_REGISTERED = "dif_already_registered"
    DIF_REGISTRATION_CLOSED = "dif_registration_closed"
    DUPLICATE_GRANT = "duplicate_grant"
    UNKNOWN_GRANT = "unknown_grant"
    GRANT_CLOSED = "grant_closed"
    DUPLICATE_ORDER = "duplicate_order"
    UNKNOWN_ORDER = "unknown_order"
    ORDER_NOT_OPEN = "order_not_open"
    INSUFFICIENT_RIGHTS = "insufficient_rights"
    NOTHING_TO_REFUND = "nothing_to_refund"
    DUPLICATE_REQUEST = "duplicate_request"
    CONVERSION_DIRECTION_NOT_ALLOWED = "conversion_direction_not_allowed"
    NOTHING_TO_CONVERT = "nothing_to_convert"
    # C2P (rules §9).
    C2P_ACCOUNT_CLOSED = "c2p_account_closed"
    C2P_INSUFFICIENT_POINTS = "c2p_insufficient_points"
    C2P_INVALID_POINTS = "c2p_invalid_points"
    C2P_NOT_A_BLOCK = "c2p_not_a_block"
    C2P_RESERVED_POINTS = "c2p_reserved_points"
    C2P_RETIREMENT_LIMIT = "c2p_retirement_limit"
    C2P_TOO_YOUNG = "c2p_too_young"
    C2P_USE_NOT_IN_FORCE = "c2p_use_not_in_force"

    @classmethod
    def _missing_(cls, value: object) -> Reason | None:
        """A code read back from a store written by another version (one this version no
        longer gives) stays readable as itself rather than failing the read."""
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        return member


def reason_of(code: str | None) -> Reason | None:
    """A stored or schema reason code as a `Reason`."""
    return None if code is None else Reason(code)



@dataclass(frozen=True, slots=True)
class Result:
    """What the caller learns about one message."""

    outcome: MessageOutcome
    reason: Reason | None
    detail: str
    source: str | None
    message_id: str | None
    person_key: str | None = None

    def as_document(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason, "detail": self.detail,
                "source": self.source, "message_id": self.message_id}
