"""The /docs page and the OpenAPI document, as people read them: bodies link to their schemas,
and no description cites a document users do not have."""

from __future__ import annotations

import re

import orjson

from ledger.http import docs, openapi

INTERNAL_CITATION = re.compile(r"§|\binterfaces\b|contract\.md|rules\.md|architecture\.md")


def test_docs_bodies_link_their_schemas_instead_of_raw_references() -> None:
    document = openapi.document()
    page = docs.render(document)
    assert '{"$ref"' not in page and "{&quot;$ref&quot;" not in page
    for name in re.findall(r"href='#schema-([^']+)'", page):
        assert f"id='schema-{name}'" in page, name
        assert name in document["components"]["schemas"]
    assert "<a href='#schema-Balance'><code>Balance</code></a>" in page


def test_no_user_facing_text_cites_internal_documents() -> None:
    text = orjson.dumps(openapi.document()).decode()
    assert not INTERNAL_CITATION.search(text), INTERNAL_CITATION.search(text)
    assert not INTERNAL_CITATION.search(docs.render(openapi.document()))
