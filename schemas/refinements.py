"""The rules on message data that JSON Schema cannot express, checked after the schema passed.

Each refinement receives a private copy of the validated data (defaults applied) and the
normalised person; it raises RejectionError, and may normalise a field of the copy in place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ledger.identity import InvalidPerson, normalise
from ledger.money import HUNDREDTHS_PER_HOUR, parse_hundredths
from schemas.model import Reason, RejectionError, violation

Refinement = Callable[[dict[str, Any], str | None], None]

DIF_HOURS_MAX_HUNDREDTHS = 120 * HUNDREDTHS_PER_HOUR
INVALID_IDENTIFIER = "is not a 13-character NIR/NIA followed by its 2-digit key"


def no_refinement(data: dict[str, Any], person: str | None) -> None:
    """Types whose schema says everything."""


def require_not_before(data: Mapping[str, Any], later: str, earlier: str) -> None:
    """`later` >= `earlier` when both are given (ISO dates order as strings)."""
    if later in data and earlier in data and data[later] < data[earlier]:
        raise violation(f"data.{later} must not be before data.{earlier}")


def require_positive(data: Mapping[str, Any], name: str) -> None:
    """A decimal-string field (already matched by the schema's pattern) is more than zero."""
    if parse_hundredths(data[name]) <= 0:
        raise violation(f"data.{name} must be more than 0")


def refine_employment(data: dict[str, Any], person: str | None) -> None:
    """One period within one calendar year, with a usable reference (it divides the hours)."""
    require_not_before(data, "period_end", "period_start")
    if data["period_start"][:4] != data["period_end"][:4]:
        raise violation("data.period_start and data.period_end must be in the same calendar year")
    require_positive(data, "reference_hours")


def refine_public_employment(data: dict[str, Any], person: str | None) -> None:
    """A period, and a public post's share more than zero (rules §10.2)."""
    refine_employment(data, person)
    if "post_share" in data and float(data["post_share"]) <= 0:
        raise violation("data.post_share must be more than 0")


def refine_conversion(data: dict[str, Any], person: str | None) -> None:
    """An amount, when given, is more than zero (rules §10.4)."""
    if "amount" in data:
        require_positive(data, "amount")


def refine_period(data: dict[str, Any], person: str | None) -> None:
    """An optional end never precedes the start."""
    require_not_before(data, "to", "from")


def refine_dif(data: dict[str, Any], person: str | None) -> None:
    """0 < hours <= 120 (rules §4)."""
    hours = parse_hundredths(data["hours"])
    if not 0 < hours <= DIF_HOURS_MAX_HUNDREDTHS:
        raise violation("data.hours must be more than 0 and at most 120")


def refine_topup_granted(data: dict[str, Any], person: str | None) -> None:
    """A grant does not expire before it is granted."""
    require_not_before(data, "expires_on", "granted_on")


def refine_merged(data: dict[str, Any], person: str | None) -> None:
    """The absorbed identifier is valid, stored normalised, and not the survivor itself."""
    try:
        absorbed = normalise(data["absorbed"])
    except InvalidPerson as error:
        # The detail never repeats the identifier: it travels to outcome records and headers.
        detail = f"data.absorbed {INVALID_IDENTIFIER}"
        raise RejectionError(Reason.INVALID_PERSON, detail) from error
    if absorbed == person:
        raise violation("data.absorbed must be another identifier than the message's person")
    data["absorbed"] = absorbed


REFINEMENTS: Mapping[str, Refinement] = {
    "employment.declared": refine_public_employment,
    "cpf.conversion.requested": refine_conversion,
    "disability.recognised": refine_period,
    "jobseeker.registered": refine_period,
    "dif.registered": refine_dif,
    "topup.granted": refine_topup_granted,
    "person.merged": refine_merged,
}
