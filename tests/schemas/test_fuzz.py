"""`parse` and `validate` never raise: whatever arrives ends in a Message or a Rejection."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import Message, Reason, Rejection, parse, schema_document, validate
from tests.schemas.examples import CONTRACT_TYPES, example

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["2023-01-01", "2023-02-30", "1607", "0", "120.01", "private", "noise"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


def assert_outcome(result: object) -> None:
    """A Message, or a Rejection with one of the documented codes."""
    assert isinstance(result, Message | Rejection)
    if isinstance(result, Rejection):
        assert result.reason in set(Reason)


def data_fields(type_: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose keys are mostly the type's own field names, with arbitrary values."""
    names = sorted(schema_document(type_, 1)["properties"])
    keys = st.sampled_from(names) | st.text(max_size=8)
    return st.dictionaries(keys, JSON_VALUES, max_size=len(names) + 1)


@FUZZ
@given(JSON_VALUES)
def test_validate_never_raises_on_any_value(value: object) -> None:
    assert_outcome(validate(value))


@FUZZ
@given(st.sampled_from(list(example())), JSON_VALUES)
def test_validate_never_raises_on_any_envelope_field(name: str, value: object) -> None:
    message = example()
    message[name] = value
    assert_outcome(validate(message))


@FUZZ
@given(st.sampled_from(CONTRACT_TYPES).flatmap(lambda t: st.tuples(st.just(t), data_fields(t))))
def test_validate_never_raises_on_any_data(case: tuple[str, dict[str, Any]]) -> None:
    type_, data = case
    assert_outcome(validate(example(type_, data=data)))


@FUZZ
@given(st.sampled_from(CONTRACT_TYPES), st.data())
def test_validate_never_raises_when_one_data_field_is_replaced(
    type_: str, draw: st.DataObject
) -> None:
    message = example(type_)
    name = draw.draw(st.sampled_from(sorted(schema_document(type_, 1)["properties"])))
    message["data"][name] = draw.draw(JSON_VALUES)
    assert_outcome(validate(message))


@FUZZ
@given(st.binary(max_size=512))
def test_parse_never_raises_on_any_bytes(raw: bytes) -> None:
    assert_outcome(parse(raw))


@FUZZ
@given(st.text(max_size=256))
def test_parse_never_raises_on_any_text(raw: str) -> None:
    assert_outcome(parse(raw))
