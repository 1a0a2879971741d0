"""The OpenAPI document: valid OpenAPI 3.1, describing exactly the routes the service has, with
the contract's message schemas; and the HTML page that renders it offline."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from ledger.http import openapi
from ledger.http.routes import OPERATIONS
from schemas import SUPPORTED, envelope_document, schema_document
from tests.http.conformance import validator
from tests.http.server import Server
from tests.support import Feed


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.document()


def test_it_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_it_describes_exactly_the_routes(document: dict[str, Any]) -> None:
    documented = {(method.upper(), path) for path, methods in document["paths"].items()
                  for method in methods}
    assert documented == {(operation.method, operation.path) for operation in OPERATIONS}


def test_guarded_operations_say_their_scopes_and_auth_errors(document: dict[str, Any]) -> None:
    for operation in OPERATIONS:
        spec = document["paths"][operation.path][operation.method.lower()]
        assert "500" in spec["responses"]
        if operation.scopes:
            scopes = {scope for requirement in spec["security"]
                      for scope in requirement["bearer"]}
            assert scopes == {*operation.scopes, "admin"}
            assert {"401", "403"} <= set(spec["responses"])
        else:
            assert spec["security"] == []


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    text = str(document)
    for reference in set(re.findall(r"'#/components/(\w+)/([\w.-]+)'", text)):
        kind, name = reference
        assert name in document["components"][kind], reference


def test_message_schemas_are_the_contract(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for type_, version in SUPPORTED:
        contract = schema_document(type_, version)
        embedded = dict(schemas[f"{type_}.v{version}"])
        assert embedded.pop("x-contract-id") == contract.pop("$id")
        contract.pop("$schema")
        assert embedded == contract
    envelope = envelope_document()
    assert schemas["Envelope.v1"]["properties"] == envelope["properties"]


def test_the_message_schema_accepts_contract_messages_only() -> None:
    feed = Feed("schema")
    good = feed.employment(2020, "1607")
    check = validator("Message")
    assert check.is_valid(good)
    assert check.is_valid(feed.close(2020))
    assert not check.is_valid({**good, "data": {**good["data"], "extra": 1}})
    assert not check.is_valid({**good, "type": "salary.paid"})


def test_the_service_serves_the_document(server: Server, document: dict[str, Any]) -> None:
    assert server.client().get("/openapi.json").json() == document


def test_the_docs_page_is_self_contained(server: Server) -> None:
    response = server.client().get("/docs")
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<script" not in page and not re.search(r"(src|href)=['\"]?https?:", page)
    for operation in OPERATIONS:
        assert operation.path in page
