"""deploy/k8s and deploy/compose.yaml against their schemas: Kubernetes' own JSON schemas (the
`kubernetes-validate` package), the CloudNativePG and Strimzi CRDs, the compose-spec schema; the
schemas are fetched once by deploy/local/manifest_schemas.py (about 10 s; 30 s on a new machine,
where Maven fetches 32 MB of jars), then cached. No cluster and no Docker engine needed."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from deploy.local import manifests
from tests.deploy.support import (
    FEED_TOPIC,
    Resource,
    named,
)


def test_every_resource_matches_its_schema(
        resources: list[Resource], schemas: manifests.CustomResourceSchemas) -> None:
    assert manifests.all_problems(copy.deepcopy(resources), schemas) == []
    custom = {r["kind"] for r in resources if schemas.knows(r)}
    assert custom == {"Cluster", "Kafka", "KafkaNodePool", "KafkaTopic"}


def test_the_compose_file_matches_the_compose_spec(compose: Resource) -> None:
    assert manifests.compose_problems(compose) == []


def test_a_misplaced_or_mistyped_field_is_found(
        resources: list[Resource], schemas: manifests.CustomResourceSchemas,
        compose: Resource) -> None:
    broken = copy.deepcopy(resources)
    named(broken, "StatefulSet", "cpa-ledger-consume")["spec"]["template"]["spec"][
        "containers"][0]["livenessProbe"]["httpGet"]["pth"] = "/healthz"
    named(broken, "Cluster", "cpa-shard-s0")["spec"]["storage"]["sise"] = "1Gi"
    named(broken, "KafkaTopic", FEED_TOPIC)["spec"]["partitions"] = "eight"
    named(broken, "Kafka", "cpa-kafka")["spec"]["kafka"]["replicas"] = 3  # a node pool's field
    problems = manifests.all_problems(broken, schemas)
    assert sorted(problem.split(":")[0] for problem in problems) == [
        "Cluster/cpa-shard-s0", "Kafka/cpa-kafka", f"KafkaTopic/{FEED_TOPIC}",
        "StatefulSet/cpa-ledger-consume"]
    broken_compose = copy.deepcopy(compose)
    broken_compose["services"]["serve"]["stop_grace"] = "30s"
    assert manifests.compose_problems(broken_compose)


def test_the_kustomization_includes_every_manifest_and_knows_its_fields(tmp_path: Path) -> None:
    [kustomization] = manifests.load_documents(manifests.K8S_FOLDER / "kustomization.yaml")
    manifest_files = {p.name for p in manifests.K8S_FOLDER.glob("*.yaml")}
    assert set(kustomization["resources"]) == manifest_files - {"kustomization.yaml"}
    (tmp_path / "kustomization.yaml").write_text("resources: []\npatches: []\n")
    with pytest.raises(manifests.KustomizationError, match="patches"):
        manifests.render(tmp_path)


def test_a_broken_rule_of_a_crd_is_found(
        resources: list[Resource], schemas: manifests.CustomResourceSchemas) -> None:
    """The CRDs' CEL rules (x-kubernetes-validations), which the schemas alone let through.
    CloudNativePG's: the Strimzi CRDs made here have none (deploy/local/strimzi/pom.xml)."""
    broken = copy.deepcopy(resources)
    cluster = named(broken, "Cluster", "cpa-shard-s0")
    cluster["spec"]["imageCatalogRef"] = {
        "apiGroup": "postgresql.cnpg.io", "kind": "ImageCatalog", "name": "postgresql",
        "major": 17}
    assert manifests.all_problems(broken, schemas) == [
        "Cluster/cpa-shard-s0: spec: imageName and imageCatalogRef are mutually exclusive"]
