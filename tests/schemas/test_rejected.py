"""Every way a message is refused, with its reason code and a detail naming the field."""

from __future__ import annotations

import hashlib
import sys
from typing import Any

import orjson
import pytest

from schemas import MESSAGE_SIZE_MAX_BYTES, Message, Reason, Rejection, parse, validate
from tests.schemas.examples import (
    ACCRUAL_YEAR_CLOSED,
    CONTRACT_TYPES,
    PERSON,
    REQUIRED_DATA_FIELDS,
    example,
    with_data,
    without_data_field,
)

PYTHON_DEFAULT_RECURSION_LIMIT = 1_000
REQUIRED_ENVELOPE_FIELDS = ["message_id", "source", "type", "version", "published_at", "data"]


def rejected(result: Message | Rejection, reason: Reason, *in_detail: str) -> Rejection:
    """The rejection, checked for its reason and for words of its detail."""
    assert isinstance(result, Rejection), result
    assert result.reason == reason, result
    assert [word for word in in_detail if word not in result.detail] == [], result
    return result


def violation(obj: object, *in_detail: str) -> Rejection:
    return rejected(validate(obj), Reason.SCHEMA_VIOLATION, *in_detail)


def test_every_reason_is_a_plain_string_code() -> None:
    assert {str(reason) for reason in Reason} == {
        "malformed",
        "oversized",
        "unknown_type",
        "unsupported_version",
        "schema_violation",
        "invalid_person",
    }


# malformed


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"\xff\xfe{}", b"{'a': 1}", b"NaN", b"\xef\xbb\xbf{}", "\ud800"]
)
def test_undecodable_input_is_malformed(raw: bytes | str) -> None:
    rejection = rejected(parse(raw), Reason.MALFORMED)
    assert (rejection.source, rejection.message_id, rejection.person) == (None, None, None)
    raw_bytes = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    assert rejection.digest == hashlib.sha256(raw_bytes).hexdigest()


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"text"', b"null", b"true"])
def test_json_that_is_not_an_object_is_malformed(raw: bytes) -> None:
    rejected(parse(raw), Reason.MALFORMED, "JSON object")


def test_validate_refuses_a_non_dict() -> None:
    rejected(validate([example()]), Reason.MALFORMED, "an array")


# oversized


def padded(size_bytes: int) -> bytes:
    """A valid message padded with JSON whitespace to exactly `size_bytes`."""
    raw = orjson.dumps(example())
    return raw + b" " * (size_bytes - len(raw))


def test_message_at_the_size_limit_is_accepted() -> None:
    assert isinstance(parse(padded(MESSAGE_SIZE_MAX_BYTES)), Message)


def test_message_over_the_size_limit_is_oversized() -> None:
    raw = padded(MESSAGE_SIZE_MAX_BYTES + 1)
    rejection = rejected(parse(raw), Reason.OVERSIZED)
    raw_bytes = raw if isinstance(raw, bytes) else raw.encode("utf-8")
    assert (rejection.source, rejection.digest) == (None, hashlib.sha256(raw_bytes).hexdigest())


def test_text_over_the_limit_in_bytes_is_oversized() -> None:
    # 2 bytes per character: under the limit in characters, over it in bytes.
    text = orjson.dumps(example()).decode() + "é" * (MESSAGE_SIZE_MAX_BYTES // 2)
    assert len(text) < MESSAGE_SIZE_MAX_BYTES
    rejected(parse(text), Reason.OVERSIZED)


# unknown_type, unsupported_version


def test_unknown_type() -> None:
    rejection = rejected(validate(example(type="employment.invented")), Reason.UNKNOWN_TYPE)
    assert "employment.invented" in rejection.detail


@pytest.mark.parametrize("version", [2, 99])
def test_unsupported_version(version: int) -> None:
    rejected(validate(example(version=version)), Reason.UNSUPPORTED_VERSION, "version")


@pytest.mark.parametrize("version", [0, -1, "1", 1.5, True, None])
def test_version_must_be_a_positive_integer(version: object) -> None:
    violation(example(version=version), "message.version")


# envelope schema


@pytest.mark.parametrize("name", REQUIRED_ENVELOPE_FIELDS)
def test_missing_envelope_field(name: str) -> None:
    message = example()
    del message[name]
    violation(message, name)


def test_unknown_envelope_field() -> None:
    violation(example(priority="high"), "priority")


def test_person_is_required_except_for_accrual() -> None:
    message = example()
    del message["person"]
    violation(message, "person")


def test_accrual_year_closed_must_not_name_a_person() -> None:
    violation(example(ACCRUAL_YEAR_CLOSED, person=PERSON), "message.person")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("message_id", ""),
        ("message_id", "a" * 129),
        ("message_id", "dsn 1"),
        ("message_id", "dsn-1\n"),
        ("source", ""),
        ("source", "DSN"),
        ("source", "s" * 65),
        ("type", 12),
        ("person", 184037512345690),
        ("data", []),
        ("supersedes", "bad id"),
        ("supersedes", None),
    ],
)
def test_envelope_field_of_the_wrong_shape(field: str, value: Any) -> None:
    violation(example(**{field: value}), f"message.{field}")


def test_longest_identifiers_are_accepted() -> None:
    message = validate(example(message_id="a" * 128, source="s" * 64))
    assert isinstance(message, Message)


def test_message_cannot_supersede_itself() -> None:
    violation(example(supersedes="dsn-1"), "message.supersedes")


@pytest.mark.parametrize(
    "published_at",
    [
        "2024-03-01T10:00:00",
        "2024-03-01 10:00:00Z",
        "2024-03-01",
        "2024-02-30T10:00:00Z",
        "2024-03-01T24:00:00Z",
        "2024-03-01T10:00:60Z",
        "2024-03-01T10:00:00+24:00",
        "2024-03-01T10:00:00.1234567890Z",
        "2024-03-01T10:00:00+0100",
        "2024-03-01T10:00:00Z\n",
    ],
)
def test_published_at_must_be_an_rfc3339_timestamp_with_offset(published_at: str) -> None:
    violation(example(published_at=published_at), "message.published_at")


# data schema


@pytest.mark.parametrize("type_", CONTRACT_TYPES)
def test_unknown_data_field_is_rejected(type_: str) -> None:
    violation(with_data(type_, comment="hello"), "data", "comment")


@pytest.mark.parametrize(
    ("type_", "name"),
    [(type_, name) for type_, names in REQUIRED_DATA_FIELDS.items() for name in names],
)
def test_missing_required_data_field_is_rejected(type_: str, name: str) -> None:
    violation(without_data_field(type_, name), "data")


@pytest.mark.parametrize("type_", CONTRACT_TYPES)
def test_data_must_be_an_object_of_the_type(type_: str) -> None:
    violation(example(type_, data={}), "data")


@pytest.mark.parametrize(
    "value",
    [
        "2023-02-30",
        "2023-13-01",
        "2023-00-10",
        "0000-01-01",
        "2023-1-01",
        "20230101",
        "2023-01-01T00:00:00Z",
        "\u0662\u0660\u0662\u0663-\u0660\u0661-\u0660\u0661",  # Arabic-Indic digits
        "2023-01-01\n",
        20230101,
    ],
)
def test_bad_dates_are_rejected(value: object) -> None:
    violation(with_data("employment.declared", period_end=value), "data.period_end")


def test_leap_day_is_a_real_date() -> None:
    message = with_data("employment.declared", period_start="2024-02-29", period_end="2024-02-29")
    assert isinstance(validate(message), Message)


@pytest.mark.parametrize(
    "value", ["1.234", "-1", "01", "1e3", "1,5", " 1", "1.", ".5", "1234567890123", 1607, None]
)
def test_bad_decimal_strings_are_rejected(value: object) -> None:
    violation(with_data("employment.declared", hours_worked=value), "data.hours_worked")


@pytest.mark.parametrize("value", ["0", "0.5", "1607.25", "999999999999.99"])
def test_decimal_strings_with_at_most_two_decimals_are_accepted(value: str) -> None:
    assert isinstance(validate(with_data("employment.declared", hours_worked=value)), Message)


@pytest.mark.parametrize(
    "value", ["1234567890123", "123456789012345", "1234567890123A", 12345678901234]
)
def test_siret_must_be_14_digits(value: object) -> None:
    violation(with_data("employment.declared", employer=value), "data.employer")


@pytest.mark.parametrize(
    ("type_", "field", "value"),
    [
        ("employment.declared", "regime", "other"),
        ("civic_engagement.declared", "activity", "pompier"),
        ("hardship.exposure.declared", "factors", ["night_work", "heat"]),
        ("hardship.points.used", "use", "holiday"),
        ("topup.granted", "funder_type", "bank"),
        ("topup.granted", "kind", "gift"),
    ],
)
def test_codes_outside_their_enumeration_are_rejected(type_: str, field: str, value: Any) -> None:
    violation(with_data(type_, **{field: value}), f"data.{field}")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quarters", []),
        ("quarters", [1, 1]),
        ("quarters", [0]),
        ("quarters", [5]),
        ("quarters", [True]),
        ("quarters", [1, 2, 3, 4, 4]),
        ("factors", []),
        ("factors", ["noise", "noise"]),
        ("year", 1899),
        ("year", "2023"),
    ],
)
def test_bad_exposure_fields_are_rejected(field: str, value: Any) -> None:
    violation(with_data("hardship.exposure.declared", **{field: value}), f"data.{field}")


@pytest.mark.parametrize("months", [0, 13, 6.5, True])
def test_months_active_is_1_to_12(months: object) -> None:
    violation(with_data("self_employment.declared", months_active=months), "data.months_active")


@pytest.mark.parametrize("points", [0, -10, 10_001, "20"])
def test_points_are_a_bounded_positive_integer(points: object) -> None:
    violation(with_data("hardship.points.used", points=points), "data.points")


@pytest.mark.parametrize(
    ("type_", "amount"), [("topup.granted", "amount_eur"), ("training.ordered", "price_eur")]
)
def test_amount_and_hours_together_are_rejected(type_: str, amount: str) -> None:
    violation(with_data(type_, hours="10"), "exactly one of", amount, "hours")


@pytest.mark.parametrize(
    ("type_", "amount"), [("topup.granted", "amount_eur"), ("training.ordered", "price_eur")]
)
def test_neither_amount_nor_hours_is_rejected(type_: str, amount: str) -> None:
    violation(without_data_field(type_, amount), "exactly one of", amount, "hours")


def test_wrong_boolean_type_is_rejected() -> None:
    violation(with_data("person.retired", full_rate="yes"), "data.full_rate")


# semantic checks after the schema


def test_employment_period_must_not_end_before_it_starts() -> None:
    message = with_data("employment.declared", period_start="2023-05-01", period_end="2023-04-30")
    violation(message, "data.period_end")


def test_employment_period_must_stay_within_one_year() -> None:
    message = with_data("employment.declared", period_start="2023-12-01", period_end="2024-01-31")
    violation(message, "same calendar year")


@pytest.mark.parametrize("reference", ["0", "0.00"])
def test_reference_hours_must_be_positive(reference: str) -> None:
    violation(with_data("employment.declared", reference_hours=reference), "data.reference_hours")


@pytest.mark.parametrize("type_", ["disability.recognised", "jobseeker.registered"])
def test_period_must_not_end_before_it_starts(type_: str) -> None:
    violation(with_data(type_, **{"from": "2024-01-02", "to": "2024-01-01"}), "data.to")


@pytest.mark.parametrize("type_", ["disability.recognised", "jobseeker.registered"])
def test_one_day_period_is_accepted(type_: str) -> None:
    message = with_data(type_, **{"from": "2024-01-02", "to": "2024-01-02"})
    assert isinstance(validate(message), Message)


@pytest.mark.parametrize("hours", ["0", "0.00", "120.01", "121", "500"])
def test_dif_hours_outside_0_to_120_are_rejected(hours: str) -> None:
    violation(with_data("dif.registered", hours=hours), "data.hours")


@pytest.mark.parametrize("hours", ["0.01", "12.5", "120", "120.00"])
def test_dif_hours_within_0_to_120_are_accepted(hours: str) -> None:
    assert isinstance(validate(with_data("dif.registered", hours=hours)), Message)


def test_topup_cannot_expire_before_it_is_granted() -> None:
    violation(with_data("topup.granted", expires_on="2025-04-30"), "data.expires_on")


def test_merged_identifier_must_differ_from_the_person() -> None:
    violation(with_data("person.merged", absorbed=PERSON), "data.absorbed")


# invalid_person


def wrong_key(identifier: str) -> str:
    return identifier[:13] + f"{(int(identifier[13:]) % 97) + 1:02d}"


@pytest.mark.parametrize(
    "person",
    [wrong_key(PERSON), PERSON[:13], PERSON + "0", "584037512345690", "18403751234569X", ""],
)
def test_identifier_of_wrong_shape_or_key_is_invalid_person(person: str) -> None:
    rejection = rejected(validate(example(person=person)), Reason.INVALID_PERSON, "message.person")
    assert rejection.person == person
    if person:
        # The identifier travels in clear only in the `person` field, never in the detail.
        assert person not in rejection.detail


def test_invalid_absorbed_identifier_is_invalid_person() -> None:
    message = with_data("person.merged", absorbed=wrong_key(PERSON))
    rejected(validate(message), Reason.INVALID_PERSON, "data.absorbed")


# what a rejection can still say


def test_rejection_names_source_message_id_and_raw_person() -> None:
    rejection = violation(with_data("employment.declared", regime="other"))
    assert (rejection.source, rejection.message_id, rejection.person) == ("dsn", "dsn-1", PERSON)
    assert rejection.digest is not None


def test_rejection_omits_identifiers_that_are_not_of_their_shape() -> None:
    rejection = violation(example(source="Not A Source", message_id="a b", person=15))
    assert (rejection.source, rejection.message_id, rejection.person) == (None, None, None)


def test_rejection_detail_is_bounded() -> None:
    rejection = violation(with_data("employment.declared", **{"x" * 10_000: 1}))
    assert len(rejection.detail) <= 300


def nested_list(depth: int) -> list[object]:
    """[[[...]]] `depth` levels deep, built without recursion."""
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_deeply_nested_array_item_is_a_violation() -> None:
    message = with_data("hardship.exposure.declared", quarters=[nested_list(5_000)])
    rejection = violation(message, "nested too deeply")
    assert rejection.digest is None


def test_parsed_array_item_nested_to_the_decoder_limit_is_a_violation() -> None:
    # orjson decodes up to 1024 levels, more than Python's default recursion limit (which
    # other tests' libraries may have raised: set it back for this one).
    depth = 1_020
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(PYTHON_DEFAULT_RECURSION_LIMIT)
    try:
        _check_nested(depth)
    finally:
        sys.setrecursionlimit(limit)


def _check_nested(depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    raw = orjson.dumps(example("hardship.exposure.declared"))
    result = parse(raw.replace(b"[1,2,4]", b"[" + nested + b"]"))
    rejected(result, Reason.SCHEMA_VIOLATION, "nested too deeply")


def test_unserialisable_content_has_no_digest() -> None:
    rejection = violation(example(extra="\ud800"))
    assert rejection.digest is None


# Public agents (rules §10): the new fields are refused where they do not apply.


@pytest.mark.parametrize(
    ("fields", "in_detail"),
    [
        ({"post_share": "0.5"}, "post_share"),
        ({"category": "C"}, "category"),
        ({"regime": "esat", "post_share": "1"}, "post_share"),
        ({"regime": "public", "post_share": "0"}, "post_share"),
        ({"regime": "public", "post_share": "0.0"}, "post_share"),
        ({"regime": "public", "post_share": "1.5"}, "post_share"),
        ({"regime": "public", "post_share": ".5"}, "post_share"),
        ({"regime": "public", "category": "D"}, "category"),
    ],
)
def test_public_post_fields_are_checked(fields: dict[str, Any], in_detail: str) -> None:
    violation(with_data("employment.declared", **fields), in_detail)


def test_a_public_order_is_in_hours() -> None:
    message = with_data("training.ordered", regime="public")
    violation(message, "hours")


@pytest.mark.parametrize(
    ("fields", "in_detail"),
    [
        ({"direction": "both"}, "direction"),
        ({"principal_activity": "none"}, "principal_activity"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"requested_on": "2025-02-30"}, "requested_on"),
    ],
)
def test_conversion_fields_are_checked(fields: dict[str, Any], in_detail: str) -> None:
    violation(with_data("cpf.conversion.requested", **fields), in_detail)
