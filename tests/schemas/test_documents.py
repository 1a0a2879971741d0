"""The schema files are the published contract: well-formed draft-07, described, and saying
what the contract says (fields, enumerations, formats)."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import Message, envelope_document, schema_document, validate
from tests.schemas.examples import (
    ACCRUAL_YEAR_CLOSED,
    CONTRACT_TYPES,
    PERSON,
    REQUIRED_DATA_FIELDS,
    example,
)

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DECIMAL_PATTERN = "^(0|[1-9][0-9]{0,11})(\\.[0-9]{1,2})?$"

# Written from the contract and rules §5-§8, independently of the files.
ENUMERATIONS = {
    ("employment.declared", "regime"): ["private", "esat", "public"],
    ("employment.declared", "category"): ["A", "B", "C"],
    ("dif.registered", "regime"): ["private", "public"],
    ("training.ordered", "regime"): ["private", "public"],
    ("cpf.conversion.requested", "direction"): ["euros_to_hours", "hours_to_euros"],
    ("cpf.conversion.requested", "principal_activity"): ["public", "private", "equal"],
    ("civic_engagement.declared", "activity"): [
        "service_civique", "reserve_militaire", "reserve_citoyenne_defense",
        "reserve_communale", "reserve_sanitaire", "maitre_apprentissage",
        "benevolat_associatif", "reserve_education_nationale", "sapeur_pompier_volontaire",
        "reserve_police_civile", "reserve_police_citoyenne", "reserve_civique",
    ],
    ("hardship.points.used", "use"): ["training", "part_time", "retirement", "reconversion"],
    ("topup.granted", "funder_type"): [
        "employer", "opco", "france_travail", "region", "state", "agefiph", "cnam",
        "at_mp_insurer", "holder", "other",
    ],
    ("topup.granted", "kind"): [
        "corrective", "dismissal_apc", "at_mp", "c2p", "agreement", "employer_voluntary",
        "france_travail", "region", "other",
    ],
}  # fmt: skip
C2P_FACTORS = [
    "night_work", "alternating_shifts", "repetitive_work", "hyperbaric", "manual_handling",
    "awkward_postures", "vibrations", "chemical_agents", "extreme_temperatures", "noise",
]  # fmt: skip


def all_documents() -> list[dict[str, Any]]:
    return [envelope_document()] + [schema_document(type_, 1) for type_ in CONTRACT_TYPES]


@pytest.mark.parametrize("document", all_documents(), ids=lambda document: document["$id"])
def test_document_is_a_described_closed_draft_07_object(document: dict[str, Any]) -> None:
    assert document["$schema"] == DRAFT_07
    assert document["$id"].startswith("urn:cpa-ledger:schemas:")
    assert document["title"] and document["description"]
    assert (document["type"], document["additionalProperties"]) == ("object", False)
    assert all(field["description"] for field in document["properties"].values())


@pytest.mark.parametrize("type_", CONTRACT_TYPES)
def test_document_id_names_type_and_version(type_: str) -> None:
    assert schema_document(type_, 1)["$id"] == f"urn:cpa-ledger:schemas:{type_}.v1"


@pytest.mark.parametrize("type_", CONTRACT_TYPES)
def test_contract_fields_are_required_or_one_of_a_pair(type_: str) -> None:
    document = schema_document(type_, 1)
    alternatives = [name for option in document.get("oneOf", []) for name in option["required"]]
    assert set(REQUIRED_DATA_FIELDS[type_]) <= set(document["required"]) | set(alternatives)
    assert set(document["required"]) <= set(REQUIRED_DATA_FIELDS[type_])


@pytest.mark.parametrize(("type_", "field"), list(ENUMERATIONS))
def test_enumerations_are_the_contract_codes(type_: str, field: str) -> None:
    assert schema_document(type_, 1)["properties"][field]["enum"] == ENUMERATIONS[(type_, field)]


def test_c2p_factors_are_the_rules_codes() -> None:
    factors = schema_document("hardship.exposure.declared", 1)["properties"]["factors"]
    assert factors["items"]["enum"] == C2P_FACTORS


@pytest.mark.parametrize("type_", CONTRACT_TYPES)
def test_dates_and_decimals_use_the_contract_patterns(type_: str) -> None:
    for name, field in schema_document(type_, 1)["properties"].items():
        if field.get("format") == "date":
            assert field["pattern"] == DATE_PATTERN, name
        if "decimal string" in field["description"]:
            assert field["pattern"] == DECIMAL_PATTERN, name


def test_schema_document_is_a_copy() -> None:
    schema_document("employment.declared", 1)["properties"].clear()
    envelope_document()["properties"].clear()
    assert isinstance(validate(example()), Message)
    assert schema_document("employment.declared", 1)["properties"]


def test_schema_document_of_an_unsupported_pair_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        schema_document("employment.declared", 2)


# Cross-check with an independent implementation, when it is installed.


@pytest.mark.parametrize("document", all_documents(), ids=lambda document: document["$id"])
def test_document_is_valid_draft_07(document: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft7Validator.check_schema(document)


@pytest.mark.parametrize("type_", CONTRACT_TYPES)
def test_examples_are_valid_for_python_jsonschema(type_: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    message = example(type_)
    jsonschema.Draft7Validator(envelope_document()).validate(message)
    jsonschema.Draft7Validator(schema_document(type_, 1)).validate(message["data"])


@pytest.mark.parametrize(
    ("type_", "with_person"),
    [("person.deceased", True), ("person.deceased", False), (ACCRUAL_YEAR_CLOSED, True),
     (ACCRUAL_YEAR_CLOSED, False)],
)  # fmt: skip
def test_person_rule_agrees_with_python_jsonschema(type_: str, with_person: bool) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    message = example(type_, person=PERSON)
    if not with_person:
        del message["person"]
    published_rule = jsonschema.Draft7Validator(envelope_document()).is_valid(message)
    assert isinstance(validate(message), Message) is published_rule
