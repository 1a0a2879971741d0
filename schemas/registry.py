"""The JSON Schema files of this package, read and compiled once (at import of `schemas`).

File names say what a file describes: `envelope.v1.json`, and `<type>.v<version>.json` for the
`data` of each message type; every such file found in the package is a supported pair.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from types import MappingProxyType
from typing import Any

import fastjsonschema
import orjson

from schemas.refinements import REFINEMENTS, Refinement, no_refinement

SCHEMA_PACKAGE = "schemas"
ENVELOPE_FILE_NAME = "envelope.v1.json"
SCHEMA_ID_PREFIX = "urn:cpa-ledger:schemas:"
_DATA_FILE_NAME = re.compile(r"^(?P<type>[a-z_]+(?:\.[a-z_]+)+)\.v(?P<version>[1-9][0-9]*)\.json$")

Validator = Callable[[object], object]
Converter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class MessageSchema:
    """Everything needed to validate the data of one (type, version), built once."""

    type: str
    version: int
    document: Mapping[str, Any]
    validate_data: Validator
    defaults: Mapping[str, Any]
    converters: tuple[tuple[str, Converter], ...]
    refine: Refinement


def is_calendar_date(text: str) -> bool:
    """A real date: the schema's pattern already fixed the YYYY-MM-DD shape."""
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def is_timestamp_with_offset(text: str) -> bool:
    """A real instant with an offset: the schema's pattern already fixed the RFC 3339 shape."""
    try:
        # RFC 3339 §5.6 allows lower-case "t" and "z"; fromisoformat only knows "Z".
        moment = datetime.fromisoformat(text.upper())
    except ValueError:
        return False
    return moment.tzinfo is not None


# Replace fastjsonschema's own regular expressions: these also reject 2023-02-30 and 25:00.
FORMATS: Mapping[str, Callable[[str], bool]] = MappingProxyType(
    {"date": is_calendar_date, "date-time": is_timestamp_with_offset}
)


def compile_validator(document: Mapping[str, Any]) -> Validator:
    """Generates and compiles the Python code that validates one schema."""
    validator: Validator = fastjsonschema.compile(
        dict(document),
        handlers={},
        formats=dict(FORMATS),
        # Defaults are applied to a private copy of `data`, never to the caller's object.
        use_default=False,
        use_formats=True,
        detailed_exceptions=True,
        fast_fail=True,
    )
    return validator


def envelope_validator(document: Mapping[str, Any]) -> Validator:
    """The envelope's validator: its one conditional, `if type is T then A else B`, compiled as
    two plain schemas chosen by the type.

    fastjsonschema evaluates `if` by raising and catching an exception, which cost 2.5 µs on
    every ordinary message (a third of validating the envelope); the choice below is exactly
    the `if` of the published document, which stays the single source of the rule.
    """
    type_, when_true, when_false = split_conditional(document)
    validate_true, validate_false = compile_validator(when_true), compile_validator(when_false)

    def validate(obj: object) -> object:
        is_type = isinstance(obj, dict) and obj.get("type") == type_
        return validate_true(obj) if is_type else validate_false(obj)

    return validate


def split_conditional(document: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(T, base and A, base and B) for a document whose `if` only says "type is T"."""
    condition = document["if"]
    type_ = condition["properties"]["type"]["const"]
    if not isinstance(type_, str) or condition != {
        "properties": {"type": {"const": type_}},
        "required": ["type"],
    }:
        raise ValueError("the envelope's `if` must only test that `type` is a given string")
    base = {key: value for key, value in document.items() if key not in ("if", "then", "else")}
    return type_, {**base, "allOf": [document["then"]]}, {**base, "allOf": [document["else"]]}


def read_document(file_name: str) -> dict[str, Any]:
    """One schema file of this package, decoded."""
    document = orjson.loads(resources.files(SCHEMA_PACKAGE).joinpath(file_name).read_bytes())
    if not isinstance(document, dict):
        raise TypeError(f"schema file {file_name} must hold a JSON object")
    return document


def data_file_names() -> list[str]:
    """The `<type>.v<version>.json` files of this package, sorted."""
    names = (entry.name for entry in resources.files(SCHEMA_PACKAGE).iterdir())
    return sorted(name for name in names if _DATA_FILE_NAME.match(name))


def integer_tuple(values: list[Any]) -> tuple[int, ...]:
    """An array of JSON integers as Python ints (JSON Schema counts 2.0 as an integer)."""
    return tuple(int(value) for value in values)


def converter_for(property_schema: Mapping[str, Any]) -> Converter | None:
    """How a validated value becomes the Message's: ints stay ints, arrays become tuples."""
    kind = property_schema.get("type")
    if kind == "integer":
        return int
    if kind == "array":
        is_integer = property_schema.get("items", {}).get("type") == "integer"
        return integer_tuple if is_integer else tuple
    return None


def converters_of(document: Mapping[str, Any]) -> tuple[tuple[str, Converter], ...]:
    """The fields of a data schema whose values need converting, with their converter."""
    properties: Mapping[str, Any] = document["properties"]
    pairs = ((name, converter_for(schema)) for name, schema in properties.items())
    return tuple((name, converter) for name, converter in pairs if converter is not None)


def defaults_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema's `default` of every property that has one."""
    properties: Mapping[str, Any] = document["properties"]
    defaults = {
        name: schema["default"] for name, schema in properties.items() if "default" in schema
    }
    return MappingProxyType(defaults)


def check_identity(document: Mapping[str, Any], type_: str, version: int) -> None:
    """The file's `$id` names the same type and version as its file name (fails loudly)."""
    expected = f"{SCHEMA_ID_PREFIX}{type_}.v{version}"
    if document.get("$id") != expected:
        raise ValueError(f"schema {type_}.v{version}.json must have $id {expected!r}")


def message_schema(file_name: str) -> MessageSchema:
    """Reads, checks and compiles the data schema of one (type, version)."""
    match = _DATA_FILE_NAME.match(file_name)
    if match is None:
        raise ValueError(f"not a data schema file name: {file_name}")
    type_, version = match["type"], int(match["version"])
    document = read_document(file_name)
    check_identity(document, type_, version)
    return MessageSchema(
        type=type_,
        version=version,
        document=MappingProxyType(document),
        validate_data=compile_validator(document),
        defaults=defaults_of(document),
        converters=converters_of(document),
        refine=REFINEMENTS.get(type_, no_refinement),
    )


def load_supported() -> Mapping[tuple[str, int], MessageSchema]:
    """Every data schema of the package, keyed by (type, version)."""
    schemas = [message_schema(name) for name in data_file_names()]
    supported = {(schema.type, schema.version): schema for schema in schemas}
    orphans = REFINEMENTS.keys() - {type_ for type_, _ in supported}
    if orphans:
        raise ValueError(f"refinements for types without a schema file: {sorted(orphans)}")
    return MappingProxyType(supported)
