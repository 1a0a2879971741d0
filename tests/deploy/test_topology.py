"""The deployment's parts fit together: one database and one set of workers per shard, topics
with the map's partitions that outlive a broker, selectors, references and budgets that match."""

from __future__ import annotations

from typing import Any

from consumers.settings import VARIABLES as KAFKA_VARIABLES
from deploy.local import kafka as local_kafka
from deploy.local import manifests
from tests.deploy.support import (
    HAND_MADE_SECRETS,
    KAFKA_BOOTSTRAP_SUFFIX,
    PARTITIONED_LIKE_THE_FEED,
    SHARD_MAP_VARIABLE,
    Resource,
    compose_services,
    environment,
    kafka_settings,
    named,
    of_kind,
    service_containers,
)


def test_each_shard_has_its_database_and_workers(
        resources: list[Resource], shard_map: dict[str, Any]) -> None:
    clusters = {c["metadata"]["name"]: c["spec"] for c in of_kind(resources, "Cluster")}
    assert set(clusters) == {f"cpa-shard-{name}" for name in shard_map["shards"]}
    alike = [{**spec, "description": None} for spec in clusters.values()]
    assert all(spec == alike[0] for spec in alike), "shards differ only by name"
    for name, shard in shard_map["shards"].items():
        secret = {"secretKeyRef": {"name": f"cpa-shard-{name}-app", "key": "uri"}}
        for command in ("project", "publish"):
            [container] = named(resources, "Deployment", f"cpa-ledger-{command}-{name}")[
                "spec"]["template"]["spec"]["containers"]
            assert environment(resources, container)["CPA_DATABASE_URL"] == secret
        for workload, container in service_containers(resources):
            if SHARD_MAP_VARIABLE in environment(resources, container):
                url = environment(resources, container)[shard["database_url_env"]]
                assert url == secret, workload["metadata"]["name"]


def test_compose_runs_each_shard_on_its_own_postgres(
        compose: Resource, shard_map: dict[str, Any]) -> None:
    services = compose_services(compose)
    for name, shard in shard_map["shards"].items():
        assert f"postgres-{name}" in compose["services"]
        url = f"postgresql://cpa:cpa@postgres-{name}:5432/cpa"
        for command in ("project", "publish"):
            assert services[f"{command}-{name}"]["environment"]["CPA_DATABASE_URL"] == url
        for service in services.values():
            if SHARD_MAP_VARIABLE in service["environment"]:
                assert service["environment"][shard["database_url_env"]] == url


def test_topics_exist_with_the_shard_maps_partitions(
        resources: list[Resource], compose: Resource, shard_map: dict[str, Any]) -> None:
    topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind(resources, "KafkaTopic")}
    [topics_job] = compose["services"]["kafka-topics"]["command"]
    created = {spec.split(":")[0]: int(spec.split(":")[1])
               for spec in topics_job.replace(";", " ").split() if spec.startswith("cpa.")}
    for topic in PARTITIONED_LIKE_THE_FEED:
        assert topics[topic]["partitions"] == created[topic] == shard_map["partitions"]
    settings = kafka_settings(named(resources, "ConfigMap", "cpa-ledger")["data"])
    named_by_code = {v.default for v in KAFKA_VARIABLES if v.name.endswith("_TOPIC")}
    assert {*settings.topics, *named_by_code} <= set(topics)
    assert set(topics) == set(created)


def test_the_bootstrap_servers_are_strimzis_service(resources: list[Resource]) -> None:
    [kafka] = of_kind(resources, "Kafka")
    [listener] = kafka["spec"]["kafka"]["listeners"]
    servers = named(resources, "ConfigMap", "cpa-ledger")["data"]["CPA_KAFKA_BOOTSTRAP_SERVERS"]
    assert servers == f"{kafka['metadata']['name']}{KAFKA_BOOTSTRAP_SUFFIX}:{listener['port']}"
    assert listener["tls"] is False  # the clients speak PLAINTEXT (consumers/clients.py)


def test_topics_survive_one_broker_down(resources: list[Resource]) -> None:
    """The producers wait for every in-sync replica (acks=all, consumers/clients.py): with one
    broker of the pool away, each topic must still have min.insync.replicas in sync."""
    brokers = sum(pool["spec"]["replicas"] for pool in of_kind(resources, "KafkaNodePool")
                  if "broker" in pool["spec"]["roles"])
    for topic in of_kind(resources, "KafkaTopic"):
        spec = topic["spec"]
        assert spec["config"]["min.insync.replicas"] < spec["replicas"] <= brokers, \
            topic["metadata"]["name"]


def test_disruption_budgets_let_a_drain_through(resources: list[Resource]) -> None:
    for budget in of_kind(resources, "PodDisruptionBudget"):
        selector = budget["spec"]["selector"]["matchLabels"]
        [workload] = [r for r in resources if manifests.pod_spec(r) is not None
                      and selector.items() <= r["spec"]["template"]["metadata"]["labels"].items()]
        replicas = workload["spec"]["replicas"]
        allowed = budget["spec"].get("maxUnavailable", replicas - budget["spec"].get(
            "minAvailable", 0))
        assert 0 < allowed < replicas, budget["metadata"]["name"]


def test_selectors_match_the_pods(resources: list[Resource]) -> None:
    pod_labels = [r["spec"]["template"]["metadata"]["labels"] for r in resources
                  if manifests.pod_spec(r) is not None]
    for resource in resources:
        if manifests.pod_spec(resource) is not None:
            selector = resource["spec"]["selector"]["matchLabels"]
            assert selector.items() <= resource["spec"]["template"]["metadata"]["labels"].items()
        elif resource["kind"] in ("Service", "PodDisruptionBudget"):
            selector = resource["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            matched = [labels for labels in pod_labels if selector.items() <= labels.items()]
            assert matched, resource["metadata"]["name"]


def test_every_reference_names_something_that_exists(resources: list[Resource]) -> None:
    """What the schemas cannot see: names pointing at other objects. Secrets come from the hand
    (the person key) or from CloudNativePG (`<cluster>-app`)."""
    config_maps = {r["metadata"]["name"] for r in of_kind(resources, "ConfigMap")}
    secrets_made = HAND_MADE_SECRETS | {
        f"{cluster['metadata']['name']}-app" for cluster in of_kind(resources, "Cluster")}
    for workload in resources:
        spec = manifests.pod_spec(workload)
        if spec is None:
            continue
        volumes = {volume["name"] for volume in spec.get("volumes", [])}
        assert {v["configMap"]["name"] for v in spec.get("volumes", [])
                if "configMap" in v} <= config_maps
        for container in manifests.containers(workload):
            assert {mount["name"] for mount in container.get("volumeMounts", [])} <= volumes
            for source in container.get("envFrom", []):
                assert source.get("configMapRef", {}).get("name", "cpa-ledger") in config_maps
                assert source.get("secretRef", {}).get("name", "cpa-ledger") in secrets_made
            for entry in container.get("env", []):
                reference = entry.get("valueFrom", {})
                if "secretKeyRef" in reference:
                    assert reference["secretKeyRef"]["name"] in secrets_made, entry["name"]
                if "configMapKeyRef" in reference:
                    assert reference["configMapKeyRef"]["name"] in config_maps, entry["name"]


def test_compose_references_name_defined_services_and_configs(compose: Resource) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name
        assert {c["source"] for c in service.get("configs", [])} <= set(compose["configs"]), name
        named_volumes = {v.split(":")[0] for v in service.get("volumes", [])
                         if not v.startswith((".", "/"))}
        assert named_volumes <= set(compose["volumes"]), name


def test_compose_and_kubernetes_run_the_versions_the_tests_run(
        resources: list[Resource], compose: Resource) -> None:
    """Kafka: the broker that deploy/local fetches with Maven; PostgreSQL: one major version in
    compose and in every CloudNativePG cluster."""
    kafka_images = {s["image"] for s in compose["services"].values()
                    if s.get("image", "").startswith("apache/kafka:")}
    assert kafka_images == {f"apache/kafka:{local_kafka.kafka_version()}"}
    compose_major = compose["services"]["postgres-s0"]["image"].split(":")[1].split(".")[0]
    for cluster in of_kind(resources, "Cluster"):
        assert cluster["spec"]["imageName"].split(":")[1].split(".")[0] == compose_major
