"""Valid feed messages of every contract type, built fresh for each test."""

from __future__ import annotations

import copy
from typing import Any

from ledger.identity import with_key

PERSON = with_key("1840375123456")
OTHER_PERSON = with_key("2900669123456")
CORSICAN_PERSON = with_key("184032A123456")
ACCRUAL_YEAR_CLOSED = "accrual.year.closed"

EXAMPLE_DATA: dict[str, dict[str, Any]] = {
    "employment.declared": {
        "employer": "12345678901234",
        "period_start": "2023-01-01",
        "period_end": "2023-06-30",
        "hours_worked": "600",
    },
    "self_employment.declared": {"year": 2023, "months_active": 7, "contribution_paid": True},
    "qualification.declared": {"low_qualified": True, "declared_on": "2023-03-15"},
    "disability.recognised": {"from": "2019-06-09", "to": "2024-06-08"},
    "jobseeker.registered": {"from": "2024-01-02"},
    "dif.registered": {"hours": "120", "registered_on": "2018-05-01"},
    "topup.granted": {
        "grant_id": "g-1",
        "funder_type": "employer",
        "funder_id": "12345678901234",
        "kind": "corrective",
        "amount_eur": "3000.00",
        "granted_on": "2025-05-01",
        "earmarked_certifications": ["RNCP34567"],
        "expires_on": "2027-05-01",
        "refundable": True,
    },
    "topup.withdrawn": {"grant_id": "g-1", "withdrawn_on": "2025-06-01"},
    "civic_engagement.declared": {
        "activity": "benevolat_associatif",
        "year": 2023,
        "quantity": "210",
        "quantity_main_organisation": "120.5",
        "validated_on": "2024-04-01",
    },
    "training.ordered": {
        "order_id": "o-1",
        "certification": "RS5678",
        "provider": "98765432109876",
        "price_eur": "1000.00",
        "ordered_on": "2024-06-01",
    },
    "training.cancelled": {"order_id": "o-1", "cancelled_on": "2024-06-10"},
    "training.entered": {"order_id": "o-1", "entered_on": "2024-07-01"},
    "training.refunded": {"order_id": "o-1", "refunded_on": "2024-09-01", "amount_eur": "250"},
    "hardship.exposure.declared": {
        "employer": "12345678901234",
        "year": 2023,
        "quarters": [1, 2, 4],
        "factors": ["night_work", "noise"],
        "birth_date": "1970-04-12",
    },
    "hardship.points.used": {
        "use": "training",
        "points": 20,
        "requested_on": "2024-02-01",
        "birth_date": "1970-04-12",
    },
    "person.retired": {"retired_on": "2030-01-01", "full_rate": True},
    "person.deceased": {"died_on": "2031-02-03"},
    "person.merged": {"absorbed": OTHER_PERSON, "merged_on": "2024-05-05"},
    ACCRUAL_YEAR_CLOSED: {"year": 2023, "credited_on": "2024-04-15"},
    "fact.retracted": {"retracts": "dsn-0", "retracted_on": "2024-03-01"},
    "cpf.conversion.requested": {
        "request_id": "r-1",
        "direction": "euros_to_hours",
        "amount": "1500.00",
        "principal_activity": "public",
        "requested_on": "2025-09-15",
    },
}

CONTRACT_TYPES = tuple(EXAMPLE_DATA)

# The contract's required data fields (contract §4), written independently of the files.
REQUIRED_DATA_FIELDS = {
    "employment.declared": ["employer", "period_start", "period_end", "hours_worked"],
    "self_employment.declared": ["year", "months_active", "contribution_paid"],
    "qualification.declared": ["low_qualified", "declared_on"],
    "disability.recognised": ["from"],
    "jobseeker.registered": ["from"],
    "dif.registered": ["hours", "registered_on"],
    "topup.granted": ["grant_id", "funder_type", "funder_id", "kind", "amount_eur", "granted_on"],
    "topup.withdrawn": ["grant_id", "withdrawn_on"],
    "civic_engagement.declared": ["activity", "year", "quantity", "validated_on"],
    "training.ordered": ["order_id", "certification", "provider", "price_eur", "ordered_on"],
    "training.cancelled": ["order_id", "cancelled_on"],
    "training.entered": ["order_id", "entered_on"],
    "training.refunded": ["order_id", "refunded_on"],
    "hardship.exposure.declared": ["employer", "year", "quarters", "factors", "birth_date"],
    "hardship.points.used": ["use", "points", "requested_on", "birth_date"],
    "person.retired": ["retired_on", "full_rate"],
    "person.deceased": ["died_on"],
    "person.merged": ["absorbed", "merged_on"],
    ACCRUAL_YEAR_CLOSED: ["year", "credited_on"],
    "fact.retracted": ["retracts", "retracted_on"],
    "cpf.conversion.requested": ["request_id", "direction", "principal_activity", "requested_on"],
}


def example(type_: str = "employment.declared", **envelope: Any) -> dict[str, Any]:
    """A valid message of the type; keyword arguments replace envelope fields."""
    message: dict[str, Any] = {
        "message_id": "dsn-1",
        "source": "dsn",
        "type": type_,
        "version": 1,
        "person": PERSON,
        "published_at": "2024-03-01T10:00:00+01:00",
        "data": copy.deepcopy(EXAMPLE_DATA[type_]),
    }
    if type_ == ACCRUAL_YEAR_CLOSED:
        del message["person"]
    message.update(envelope)
    return message


def with_data(type_: str, **fields: Any) -> dict[str, Any]:
    """A valid message of the type whose data fields are replaced by `fields`."""
    message = example(type_)
    message["data"].update(fields)
    return message


def without_data_field(type_: str, name: str) -> dict[str, Any]:
    """A valid message of the type with one data field removed."""
    message = example(type_)
    message["data"].pop(name, None)
    return message
