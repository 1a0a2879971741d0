"""Fixtures of the deployment tests: the rendered kustomization, the operators' schemas (fetched
on first use), the compose file and the shard map."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.local import manifests
from tests.deploy.support import (
    SHARD_MAP_PATH,
    Resource,
    parse_shard_map,
)


@pytest.fixture(scope="session")
def resources() -> list[Resource]:
    return manifests.render()


@pytest.fixture(scope="session")
def schemas() -> manifests.CustomResourceSchemas:
    return manifests.default_custom_resource_schemas()


@pytest.fixture(scope="session")
def compose() -> Resource:
    [document] = manifests.load_documents(manifests.COMPOSE_PATH)
    return document


@pytest.fixture(scope="session")
def shard_map() -> dict[str, Any]:
    return parse_shard_map(SHARD_MAP_PATH.read_text(encoding="utf-8"))

