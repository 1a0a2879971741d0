"""Checks that a response body matches its schema in the service's own OpenAPI document."""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from ledger.http import openapi

DOCUMENT_URI = "urn:cpa-ledger:openapi"


@cache
def _registry() -> Registry[Any]:
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, DRAFT202012.create_resource(openapi.document()))
    return registry


def validator(schema_name: str) -> Any:
    schema = {"$ref": f"{DOCUMENT_URI}#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=_registry(), format_checker=FormatChecker())


def conforms(document: Any, schema_name: str) -> Any:
    """The document, after checking it against the named schema (AssertionError otherwise)."""
    errors = [f"{list(error.absolute_path)}: {error.message}"
              for error in validator(schema_name).iter_errors(document)]
    assert not errors, f"{schema_name}: " + "; ".join(errors[:5])
    return document
