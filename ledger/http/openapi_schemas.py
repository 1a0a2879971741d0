"""The schemas of the OpenAPI document: the feed contract's JSON Schemas (from `schemas/`) and
the documents the API answers.

The contract's files are draft-07 documents with `$id` URNs; OpenAPI 3.1 reads JSON Schema
2020-12. They use no keyword whose meaning differs between the two, so embedding needs only:
`$schema` dropped (the document's dialect applies) and `$id` moved to `x-contract-id` (an `$id`
inside a component would change the base URI that `$ref`s resolve against).
"""

from __future__ import annotations

from typing import Any

from ledger.http import limits
from ledger.http.auth import SCOPES
from schemas import SUPPORTED, envelope_document, schema_document

REF = "#/components/schemas/"
MONEY = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$",
         "description": "Decimal string with exactly two decimals (EUR or hours)."}
DATE = {"type": "string", "format": "date"}
NULLABLE_STRING = {"type": ["string", "null"]}
PERSON_PATTERN = r"^[123478][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]{6}[0-9]{2}$"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _closed(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly these properties, all required but `optional`."""
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": [name for name in properties if name not in optional]}


def _contract(document: dict[str, Any]) -> dict[str, Any]:
    document.pop("$schema", None)
    contract_id = document.pop("$id", None)
    if contract_id is not None:
        document["x-contract-id"] = contract_id
    return document


def data_schema_name(type_: str, version: int) -> str:
    return f"{type_}.v{version}"


def message_schemas() -> dict[str, Any]:
    """The envelope, each type's `data`, and a Message: the envelope with one type's data."""
    schemas_: dict[str, Any] = {"Envelope.v1": _contract(envelope_document())}
    variants = []
    for type_, version in sorted(SUPPORTED):
        name = data_schema_name(type_, version)
        schemas_[name] = _contract(schema_document(type_, version))
        variants.append({"properties": {"type": {"const": type_}, "version": {"const": version},
                                        "data": ref(name)}})
    schemas_["Message"] = {
        "description": "A feed message: the envelope, and data by type and "
                       "version. A message that does not match is still answered, with a "
                       "`rejected` outcome and its reason.",
        "allOf": [ref("Envelope.v1")], "oneOf": variants}
    schemas_["MessageBatch"] = {"type": "array", "items": ref("Message"),
                                "maxItems": limits.MESSAGES_PER_REQUEST_MAX}
    return schemas_


def _grant() -> dict[str, Any]:
    return _closed({
        "grant_id": {"type": "string"}, "kind": {"type": "string"},
        "funder_type": {"type": "string"}, "funder_id": {"type": "string"},
        "granted_on": DATE, "amount": MONEY, "amount_unit": {"enum": ["EUR", "hours"]},
        "balance": MONEY, "held": MONEY,
        "earmarked_certifications": {"type": "array", "items": {"type": "string"}},
        "expires_on": {"type": ["string", "null"], "format": "date"},
        "refundable": {"type": "boolean"}, "status": {"type": "string"},
        "closed_amount": MONEY, "refunded_to_funder": MONEY})


def _money_account(*extra: str) -> dict[str, Any]:
    properties: dict[str, Any] = {"unit": {"enum": ["EUR", "hours"]}, "balance": MONEY}
    if "ceiling" in extra:
        properties["ceiling"] = MONEY
    if "grants" in extra:
        properties["grants"] = {"type": "array", "items": ref("Grant")}
    return _closed(properties)


def _public_account() -> dict[str, Any]:
    pending = _closed({"year": {"type": "integer"}, "cpf_public": MONEY,
                       "unit": {"const": "hours"}})
    document = _closed({
        "unit": {"const": "hours"}, "balance": MONEY, "ceiling": MONEY, "held": MONEY,
        "available": MONEY, "status": {"enum": ["open", "frozen", "closed"]},
        "pending": {"type": "array", "items": pending}})
    document["description"] = ("The public agents' counter: hours at every date, "
                               "never converted; it funds public orders only, so it is not in "
                               "the document's `held` and `available`.")
    return document


def balance() -> dict[str, Any]:
    accounts = _closed({
        "cpf": _money_account("ceiling"), "dif": _money_account(),
        "cec": _money_account("ceiling"), "topups": _money_account("grants"),
        "c2p": _closed({"unit": {"const": "points"}, "balance": {"type": "integer"}}),
        "cpf_public": _public_account()})
    document = _closed({
        "person": {"type": "string"}, "as_of": DATE,
        "known_at": {"type": ["string", "null"], "format": "date-time"},
        "status": {"enum": ["open", "frozen", "closed"]}, "in_arrears": {"type": "boolean"},
        "accounts": accounts, "held": MONEY, "available": MONEY,
        "unit": {"enum": ["EUR", "hours"], "description": "The unit of `held` and `available`."},
        "pending": {"type": "array",
                    "items": _closed({"year": {"type": "integer"}, "cpf": MONEY,
                                      "unit": {"enum": ["EUR", "hours"]}})}})
    document["description"] = (
        "Balances as of a date, as known at a time. Amounts are decimal strings with two "
        "decimals, each with its unit: hours for dates before 2019-01-01, EUR from then on "
        "(hours convert at 15 EUR/h), hours always for `cpf_public`; prevention points are "
        "whole numbers. Pending years are in the unit of the document. `balance` counts holds "
        "as still in the account; `held` is their total; `available` = sum of balances - held.")
    return document


def posting() -> dict[str, Any]:
    document = _closed({
        "on": DATE,
        "account": {"enum": ["cpf", "dif", "cec", "topups", "c2p", "cpf_public", "held"]},
        "amount": {"oneOf": [MONEY, {"type": "integer"}],
                   "description": "Decimal string; an integer for points (c2p)."},
        "unit": {"enum": ["EUR", "hours", "points"]}, "kind": {"type": "string"},
        "bucket": {"type": "string"}, "memo": {"type": "string"}, "year": {"type": "integer"},
        "order_id": {"type": "string"}, "grant_id": {"type": "string"},
        "source": {"type": "string"}, "message_id": {"type": "string"},
        "recorded_at": {"type": "string"}},
        optional=("bucket", "memo", "year", "order_id", "grant_id", "source", "message_id",
                  "recorded_at"))
    document["description"] = ("One statement line, oldest first; derived lines (2019 "
                               "conversion, expiry, withdrawal) have no source.")
    return document


def _page(items_name: str, item: dict[str, Any]) -> dict[str, Any]:
    return _closed({"person": {"type": "string"}, items_name: {"type": "array", "items": item},
                    "limit": {"type": "integer", "minimum": 1},
                    "next_cursor": {**NULLABLE_STRING,
                                    "description": "Opaque; null on the last page."}})


def explanation() -> dict[str, Any]:
    free = {"type": "object", "additionalProperties": True}
    document = _closed({"person": {"type": "string"}, "year": {"type": "integer"},
                        "status": {"enum": ["closed", "pending"]},
                        "settlements": {"type": "array", "items": free}, "result": free})
    document["description"] = ("How year N's accrual was computed: every settlement (the close "
                               "and later regularisations) and the latest result - facts used, "
                               "ratio, profile, parameters, ceiling, credited; or, for a year "
                               "not closed, the computation as if it closed now.")
    return document


def quote() -> dict[str, Any]:
    draw = _closed({"bucket": {"type": "string"}, "grant_id": NULLABLE_STRING,
                    "amount": MONEY})
    return _closed({
        "person": {"type": "string"}, "on": DATE, "certification": {"type": "string"},
        "unit": {"enum": ["EUR", "hours"]}, "price": MONEY, "copay": MONEY, "funded": MONEY,
        "out_of_pocket": MONEY, "copay_waived_by": NULLABLE_STRING,
        "draws": {"type": "array", "items": draw}})


def outcome() -> dict[str, Any]:
    return _closed({"outcome": {"enum": ["accepted", "duplicate", "rejected"]},
                    "reason": NULLABLE_STRING, "detail": {"type": "string"},
                    "source": NULLABLE_STRING, "message_id": NULLABLE_STRING})


def ingest_result() -> dict[str, Any]:
    counts = _closed({name: {"type": "integer", "minimum": 0}
                      for name in ("accepted", "duplicate", "rejected")})
    return _closed({"outcomes": {"type": "array", "items": ref("Outcome")}, "counts": counts})


def close_status() -> dict[str, Any]:
    return _closed({
        "source": {"type": "string"}, "message_id": {"type": "string"},
        "outcome": {"const": "in_progress"}, "year": {"type": "integer"},
        "persons_settled": {"type": ["integer", "null"],
                            "description": "Persons settled so far (null: swept elsewhere)."},
        "detail": {"type": "string"}})


def message_record() -> dict[str, Any]:
    repeat = _closed({"outcome": {"type": "string"}, "reason": NULLABLE_STRING,
                      "detail": {"type": "string"}, "recorded_at": {"type": "string"},
                      "channel": NULLABLE_STRING})
    return _closed({
        "source": {"type": "string"}, "message_id": {"type": "string"},
        "outcome": {"enum": ["accepted", "rejected"]}, "reason": NULLABLE_STRING,
        "detail": {"type": "string"}, "type": NULLABLE_STRING,
        "recorded_at": {"type": "string"}, "channel": NULLABLE_STRING,
        "repeats": {"type": "array", "items": repeat}})


def audit_event() -> dict[str, Any]:
    document = _closed({
        "version": {"type": "integer", "minimum": 1}, "topic": {"type": "string"},
        "stored_state": {"type": "string",
                         "description": "The event's stored bytes, exactly, as UTF-8 text."},
        "event_hash": {"type": "string", "description": "SHA-256(topic, LF, stored bytes)."},
        "person_link": {**NULLABLE_STRING, "description": "Chain of this person's events."},
        "link": {**NULLABLE_STRING, "description": "Chain of the whole log (PostgreSQL)."},
        "notification_id": {"type": ["integer", "null"]}})
    document["description"] = ("A stored event and its hash-chain values; chain values are "
                               "null until the audit projection reaches the event.")
    return document


def verdict() -> dict[str, Any]:
    return _closed({"ok": {"type": "boolean"}, "checked_events": {"type": "integer"},
                    "head_link": {"type": "string"}, "first_difference": NULLABLE_STRING})


def problem() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "RFC 9457 problem details, with a machine-readable `reason`.",
        "required": ["type", "title", "status", "reason"],
        "properties": {
            "type": {"type": "string", "description": "urn:cpa-ledger:problem:REASON"},
            "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "instance": {"type": "string"},
            "reason": {"type": "string"}, "request_id": NULLABLE_STRING},
        "additionalProperties": True,
    }


def components() -> dict[str, Any]:
    return {
        **message_schemas(),
        "Grant": _grant(), "Balance": balance(), "Posting": posting(),
        "PostingsPage": _page("postings", ref("Posting")), "Explanation": explanation(),
        "Quote": quote(), "Outcome": outcome(), "IngestResult": ingest_result(),
        "MessageRecord": message_record(), "CloseStatus": close_status(),
        "AuditEvent": audit_event(),
        "AuditEventsPage": _page("events", ref("AuditEvent")), "Verdict": verdict(),
        "Health": _closed({"status": {"const": "ok"}}),
        "Ready": _closed({"status": {"const": "ready"},
                          "backend": {"enum": ["sqlite", "postgresql"]},
                          "projection_lag_events": {"type": "integer"},
                          "projection_lag_max_events": {"type": "integer"}}),
        "Problem": problem(),
        "Scope": {"enum": list(SCOPES)},
    }
