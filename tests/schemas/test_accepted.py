"""Valid messages become typed Messages: fields, defaults, conversions and the digest."""

from __future__ import annotations

import copy
import hashlib

import orjson
import pytest

from ledger.identity import with_key
from schemas import SUPPORTED, Message, Rejection, parse, validate
from tests.schemas.examples import (
    ACCRUAL_YEAR_CLOSED,
    CONTRACT_TYPES,
    CORSICAN_PERSON,
    EXAMPLE_DATA,
    OTHER_PERSON,
    PERSON,
    example,
    with_data,
    without_data_field,
)


def accepted(obj: object) -> Message:
    """The Message `validate` returns, failing the test with the rejection otherwise."""
    result = validate(obj)
    assert isinstance(result, Message), result
    return result


def test_every_contract_type_is_supported_in_version_1() -> None:
    assert set(SUPPORTED) == {(type_, 1) for type_ in CONTRACT_TYPES}
    assert len(CONTRACT_TYPES) == 21


@pytest.mark.parametrize("type_", CONTRACT_TYPES)
def test_valid_example_is_accepted(type_: str) -> None:
    message = accepted(example(type_))
    assert (message.type, message.version) == (type_, 1)
    assert EXAMPLE_DATA[type_].keys() <= message.data.keys()


@pytest.mark.parametrize("type_", CONTRACT_TYPES)
def test_valid_example_is_parsed_from_bytes_and_text(type_: str) -> None:
    raw = orjson.dumps(example(type_))
    assert parse(raw) == parse(raw.decode()) == validate(example(type_))


def test_envelope_fields_are_carried() -> None:
    message = accepted(example(message_id="dsn:2024.03-A_1", supersedes="dsn-0"))
    assert message.message_id == "dsn:2024.03-A_1"
    assert message.source == "dsn"
    assert message.person == PERSON
    assert message.published_at == "2024-03-01T10:00:00+01:00"
    assert message.supersedes == "dsn-0"


def test_supersedes_is_none_when_absent() -> None:
    assert accepted(example()).supersedes is None


@pytest.mark.parametrize(
    ("published_at", "published_on"),
    [
        ("2024-03-01T10:00:00+01:00", "2024-03-01"),
        ("2024-12-31T23:30:00-10:00", "2024-12-31"),
        ("2024-03-01T00:15:00Z", "2024-03-01"),
        ("2024-03-01t00:15:00z", "2024-03-01"),
        ("2024-03-01T00:15:00.123456789+05:30", "2024-03-01"),
        ("2024-03-01T00:15:00-00:00", "2024-03-01"),
    ],
)
def test_published_on_is_the_date_as_written(published_at: str, published_on: str) -> None:
    message = accepted(example(published_at=published_at))
    assert (message.published_at, message.published_on) == (published_at, published_on)


@pytest.mark.parametrize("body", ["184032A123456", "284032B123456"])
def test_corsican_identifier_is_accepted(body: str) -> None:
    assert accepted(example(person=with_key(body))).person == with_key(body)


def test_person_is_normalised() -> None:
    raw = " " + CORSICAN_PERSON.lower() + "\n"
    assert accepted(example(person=raw)).person == CORSICAN_PERSON


def test_accrual_year_closed_has_no_person() -> None:
    message = accepted(example(ACCRUAL_YEAR_CLOSED))
    assert message.person is None
    assert message.data == {"year": 2023, "credited_on": "2024-04-15"}


def test_employment_defaults_are_applied() -> None:
    data = accepted(example()).data
    assert (data["reference_hours"], data["regime"]) == ("1607", "private")


def test_given_values_override_defaults() -> None:
    data = accepted(with_data("employment.declared", reference_hours="218", regime="esat")).data
    assert (data["reference_hours"], data["regime"]) == ("218", "esat")


def test_optional_booleans_default_to_false() -> None:
    topup = without_data_field("topup.granted", "refundable")
    assert accepted(topup).data["refundable"] is False
    assert accepted(example("training.ordered")).data["volunteer_training"] is False


def test_optional_fields_without_default_stay_absent() -> None:
    assert "to" not in accepted(example("jobseeker.registered")).data
    assert "amount_eur" not in accepted(without_data_field("training.refunded", "amount_eur")).data


def test_hours_instead_of_amount_are_accepted() -> None:
    topup = without_data_field("topup.granted", "amount_eur")
    topup["data"].update(hours="120", granted_on="2018-01-10")
    del topup["data"]["expires_on"]
    assert accepted(topup).data["hours"] == "120"


def test_data_is_read_only_and_arrays_are_tuples() -> None:
    data = accepted(example("hardship.exposure.declared")).data
    assert data["quarters"] == (1, 2, 4)
    assert data["factors"] == ("night_work", "noise")
    with pytest.raises(TypeError):
        data["year"] = 2024  # type: ignore[index]


def test_integral_floats_become_ints() -> None:
    message = with_data("hardship.exposure.declared", year=2023.0, quarters=[1.0, 3])
    message["version"] = 1.0
    accepted_message = accepted(message)
    assert accepted_message.version == 1 and type(accepted_message.version) is int
    assert type(accepted_message.data["year"]) is int
    assert [type(quarter) for quarter in accepted_message.data["quarters"]] == [int, int]


def test_merged_absorbed_identifier_is_normalised() -> None:
    message = with_data("person.merged", absorbed=" " + OTHER_PERSON + " ")
    assert accepted(message).data["absorbed"] == OTHER_PERSON


def test_validate_does_not_change_its_input() -> None:
    message = example("topup.granted")
    del message["data"]["refundable"]
    before = copy.deepcopy(message)
    accepted(message)
    assert message == before


def test_data_does_not_follow_later_changes_of_the_input() -> None:
    message = example("hardship.exposure.declared")
    data = accepted(message).data
    message["data"]["quarters"].append(3)
    assert data["quarters"] == (1, 2, 4)


def test_digest_is_sha256_of_the_sorted_message() -> None:
    message = example()
    expected = hashlib.sha256(orjson.dumps(message, option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert accepted(message).digest == expected


def test_digest_ignores_key_order() -> None:
    message = example()
    reordered = {key: message[key] for key in reversed(list(message))}
    reordered["data"] = {key: message["data"][key] for key in reversed(list(message["data"]))}
    assert list(reordered) != list(message)
    assert accepted(reordered).digest == accepted(message).digest


def test_digest_differs_with_content() -> None:
    other = with_data("employment.declared", hours_worked="601")
    assert accepted(other).digest != accepted(example()).digest


def test_rejection_digest_is_the_same_content_identity() -> None:
    message = example(type="unknown.type")
    rejection = validate(message)
    assert isinstance(rejection, Rejection)
    expected = hashlib.sha256(orjson.dumps(message, option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert rejection.digest == expected


# Public agents (rules §10): new optional fields; messages without them are unchanged.


def test_a_public_period_carries_its_post_share_and_category() -> None:
    message = accepted(with_data("employment.declared", regime="public", post_share="0.5",
                                 category="C"))
    assert (message.data["post_share"], message.data["category"]) == ("0.5", "C")


def test_old_messages_get_no_new_field() -> None:
    for type_ in ("employment.declared", "dif.registered", "training.ordered", "person.retired"):
        message = accepted(example(type_))
        assert not {"post_share", "category", "invalidity"} & set(message.data), type_
        assert type_ == "employment.declared" or "regime" not in message.data


@pytest.mark.parametrize(
    ("type_", "fields"),
    [
        ("dif.registered", {"regime": "public", "registered_on": "2025-01-01"}),
        ("training.ordered", {"regime": "public", "hours": "35"}),
        ("person.retired", {"full_rate": False, "invalidity": True}),
        ("cpf.conversion.requested", {"direction": "hours_to_euros",
                                      "principal_activity": "equal"}),
    ],
)
def test_public_fields_are_accepted(type_: str, fields: dict[str, object]) -> None:
    message = with_data(type_, **fields)
    if type_ == "training.ordered":
        del message["data"]["price_eur"]
    accepted(message)


def test_a_conversion_without_amount_converts_all() -> None:
    message = example("cpf.conversion.requested")
    del message["data"]["amount"]
    assert "amount" not in accepted(message).data
