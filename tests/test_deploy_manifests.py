"""deploy/k8s and deploy/compose.yaml: valid against their schemas, and in agreement with the code.

No cluster and no Docker engine here: the Kubernetes kinds are checked against Kubernetes' own
JSON schemas (the `kubernetes-validate` package), the CloudNativePG and Strimzi resources
against the operators' CRDs, the compose file against the compose-spec schema; the schemas are
fetched once by deploy/local/manifest_schemas.py (about 10 s; more on a new machine, where
Maven fetches 40 MB of jars), then cached. Then what the files say is held against what the
code reads: variables, commands, probes' paths, the shard map, topics, references, and one
database and one set of workers per shard.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import secrets
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers import limits as consumer_limits
from consumers import metrics as consumer_metrics
from consumers.settings import VARIABLES as KAFKA_VARIABLES
from consumers.settings import KafkaSettings
from deploy.local import manifests
from deploy.local.kafka import free_ports
from ledger.cli import build_parser
from ledger.config import VARIABLES as LEDGER_VARIABLES
from ledger.config import ConfigurationError, Settings
from ledger.http.routes import OPERATIONS
from ledger.http.settings import VARIABLES as HTTP_VARIABLES

Resource = manifests.Resource

SHARD_MAP_PATH = manifests.K8S_FOLDER / "shards.toml"
SHARD_MAP_CONFIG_MAP = "cpa-ledger-shards"
# NOTE: the shard map's variable is declared by issue 12's shard routing (the shards branch),
# with its own TOML parser; until that lands here this test checks the file's shape itself
# (`parse_shard_map` below). Once merged: take the name from its Variable table and parse
# shards.toml with its parser instead.
SHARD_MAP_VARIABLE = "CPA_SHARD_MAP"
# Secrets not in the manifests: the person-key secret made by hand (config.yaml says how).
HAND_MADE_SECRETS = frozenset({"cpa-ledger"})
SERVICE_IMAGES = ("cpa-ledger", "registry.example.org/cpa-ledger", "cpa-ledger:dev")
FEED_TOPIC = "cpa.feed.v1"
# NOTE: the control topic is the shards branch's (consumers/control.py, CPA_KAFKA_CONTROL_TOPIC);
# once merged, `named_by_code` below holds it too.
CONTROL_TOPIC = "cpa.ledger.control.v1"
PARTITIONED_LIKE_THE_FEED = (FEED_TOPIC, CONTROL_TOPIC)  # consume checks both against the map
KAFKA_BOOTSTRAP_SUFFIX = "-kafka-bootstrap"


# --- Fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def resources() -> list[Resource]:
    return manifests.render()


@pytest.fixture(scope="module")
def schemas() -> manifests.CustomResourceSchemas:
    return manifests.default_custom_resource_schemas()


@pytest.fixture(scope="module")
def compose() -> Resource:
    [document] = manifests.load_documents(manifests.COMPOSE_PATH)
    return document


@pytest.fixture(scope="module")
def shard_map() -> dict[str, Any]:
    return parse_shard_map(SHARD_MAP_PATH.read_text(encoding="utf-8"))


def parse_shard_map(text: str) -> dict[str, Any]:
    """The shard map's rules: every partition 0..partitions-1 in exactly one shard, each shard
    naming the variable that holds its URL."""
    document = tomllib.loads(text)
    count = document["partitions"]
    assert isinstance(count, int) and count > 0
    owned = [p for shard in document["shards"].values() for p in shard["partitions"]]
    assert sorted(owned) == list(range(count)), "each partition in exactly one shard"
    names = [shard["database_url_env"] for shard in document["shards"].values()]
    assert len(set(names)) == len(names), "one URL variable per shard"
    assert all(name.startswith("CPA_SHARD_") and name.endswith("_URL") for name in names)
    return document


def of_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [resource for resource in resources if resource["kind"] == kind]


def named(resources: list[Resource], kind: str, name: str) -> Resource:
    [resource] = [r for r in of_kind(resources, kind) if r["metadata"]["name"] == name]
    return resource


def service_containers(resources: list[Resource]) -> Iterator[tuple[Resource, Resource]]:
    for resource in resources:
        for container in manifests.containers(resource):
            if container["image"].split(":")[0] in SERVICE_IMAGES:
                yield resource, container


def environment(resources: list[Resource], container: Resource) -> dict[str, Any]:
    """A container's variables: its ConfigMaps' (envFrom) then its own `env` entries."""
    values: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            config_map = named(resources, "ConfigMap", source["configMapRef"]["name"])
            values.update(config_map["data"])
    values.update({entry["name"]: entry.get("value", entry.get("valueFrom"))
                   for entry in container.get("env", [])})
    return values


def process_environment(variables: dict[str, Any]) -> dict[str, str]:
    """What the process would see: the literal values, and the hand-made Secret's key (a
    stand-in: config.yaml says how to create the real one)."""
    literal = {name: value for name, value in variables.items() if isinstance(value, str)}
    return {**literal, "CPA_PERSON_KEY_SECRET": secrets.token_hex(32)}


def kafka_settings(variables: dict[str, Any]) -> KafkaSettings:
    environ = process_environment(variables)
    return KafkaSettings.from_environment(Settings.from_environment(environ), environ)


def compose_services(compose: Resource) -> dict[str, Resource]:
    return {name: service for name, service in compose["services"].items()
            if service.get("image") in SERVICE_IMAGES}


def known_variables(shard_map: dict[str, Any]) -> set[str]:
    declared = {v.name for v in (*LEDGER_VARIABLES, *KAFKA_VARIABLES, *HTTP_VARIABLES)}
    shard_urls = {shard["database_url_env"] for shard in shard_map["shards"].values()}
    return declared | shard_urls | {SHARD_MAP_VARIABLE}


# --- Schemas ----------------------------------------------------------------------------------

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


# --- Agreement with the code ------------------------------------------------------------------

def test_every_variable_set_is_one_the_code_reads(
        resources: list[Resource], compose: Resource, shard_map: dict[str, Any]) -> None:
    known = known_variables(shard_map)
    for workload, container in service_containers(resources):
        unknown = set(environment(resources, container)) - known
        assert not unknown, f"{workload['metadata']['name']}: {sorted(unknown)}"
    for name, service in compose_services(compose).items():
        assert not set(service["environment"]) - known, name


def test_every_command_run_exists_with_its_options(
        resources: list[Resource], compose: Resource) -> None:
    commands = [container["args"] for _, container in service_containers(resources)]
    commands += [service["command"] for service in compose_services(compose).values()]
    assert {command[0] for command in commands} == {"consume", "serve", "project", "publish"}
    for command in commands:
        build_parser().parse_args(command)  # exits (a failure here) on an unknown command


def test_a_command_the_code_lacks_is_refused() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["consume-all"])


def test_the_shard_map_mounted_is_the_file_checked(
        resources: list[Resource], compose: Resource) -> None:
    generated = named(resources, "ConfigMap", SHARD_MAP_CONFIG_MAP)
    assert generated["data"]["shards.toml"] == SHARD_MAP_PATH.read_text(encoding="utf-8")
    for workload, container in service_containers(resources):
        path = environment(resources, container).get(SHARD_MAP_VARIABLE)
        if path is not None:
            assert path in _config_map_files(resources, workload, container, SHARD_MAP_CONFIG_MAP)
    for service in compose_services(compose).values():
        path = service["environment"].get(SHARD_MAP_VARIABLE)
        if path is not None:
            [config] = service["configs"]
            assert compose["configs"][config["source"]]["file"] == "./k8s/shards.toml"
            assert config["target"] == path


def _config_map_files(resources: list[Resource], workload: Resource, container: Resource,
                      config_map: str) -> set[str]:
    """The paths at which a container sees the keys of `config_map` (whole-volume mounts)."""
    volumes = {volume["name"] for volume in workload["spec"]["template"]["spec"]["volumes"]
               if volume.get("configMap", {}).get("name") == config_map}
    data = named(resources, "ConfigMap", config_map)["data"]
    return {f"{mount['mountPath']}/{key}" for mount in container.get("volumeMounts", [])
            if mount["name"] in volumes for key in data}


def test_the_shard_map_parses_with_the_services_own_rules(shard_map: dict[str, Any]) -> None:
    """The service's parser (ledger/shards.py, from the shards branch) reads the same file and
    finds the same shards; until that module is merged, the shape check above stands alone."""
    if importlib.util.find_spec("ledger.shards") is None:
        return
    shards: Any = importlib.import_module("ledger.shards")
    environ = {shard["database_url_env"]: f"postgresql://cpa@{name}/cpa"
               for name, shard in shard_map["shards"].items()}
    parsed = shards.read_map(SHARD_MAP_PATH, environ)
    assert parsed.partitions == shard_map["partitions"]
    assert {shard.name: (shard.database_url, list(shard.partitions)) for shard in parsed.shards} \
        == {name: (environ[shard["database_url_env"]], shard["partitions"])
            for name, shard in shard_map["shards"].items()}


def test_a_shard_map_with_a_gap_or_an_overlap_is_refused() -> None:
    text = SHARD_MAP_PATH.read_text(encoding="utf-8")
    with pytest.raises(AssertionError, match="exactly one shard"):
        parse_shard_map(text.replace("[4, 5, 6, 7]", "[3, 4, 5, 6]"))


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


def test_consumers_are_static_members_that_outlast_a_restart(
        resources: list[Resource], compose: Resource) -> None:
    consume = named(resources, "StatefulSet", "cpa-ledger-consume")
    [container] = consume["spec"]["template"]["spec"]["containers"]
    variables = environment(resources, container)
    assert variables["CPA_KAFKA_GROUP_INSTANCE_ID"] == {
        "fieldRef": {"fieldPath": "metadata.name"}}
    settings = kafka_settings(variables)
    [kafka] = of_kind(resources, "Kafka")
    broker_max_ms = kafka["spec"]["kafka"]["config"]["group.max.session.timeout.ms"]
    grace_ms = consume["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] * 1000
    assert grace_ms < settings.session_timeout_ms <= broker_max_ms
    assert consume["spec"]["replicas"] <= named(resources, "KafkaTopic", FEED_TOPIC)[
        "spec"]["partitions"]
    ids = [s["environment"]["CPA_KAFKA_GROUP_INSTANCE_ID"]
           for s in compose_services(compose).values() if s["command"] == ["consume"]]
    assert len(ids) == len(set(ids)) >= 2


def test_the_session_timeout_is_bounded() -> None:
    ledger = Settings.from_environment({"CPA_KAFKA_BOOTSTRAP_SERVERS": "localhost:1"})
    assert KafkaSettings.from_environment(ledger, {}).session_timeout_ms == \
        consumer_limits.SESSION_TIMEOUT_MS
    for text in ("5999", str(consumer_limits.SESSION_TIMEOUT_MS_MAX + 1), "a minute"):
        with pytest.raises(ConfigurationError, match="CPA_KAFKA_SESSION_TIMEOUT_MS"):
            KafkaSettings.from_environment(ledger, {"CPA_KAFKA_SESSION_TIMEOUT_MS": text})


def test_probes_ask_paths_the_processes_serve(resources: list[Resource]) -> None:
    served = {
        "serve": {op.path for op in OPERATIONS if op.method == "GET" and not op.scopes},
        "consume": {consumer_metrics.HEALTH_PATH, consumer_metrics.METRICS_PATH},
    }
    probed = 0
    for _, container in service_containers(resources):
        ports = {port["name"] for port in container.get("ports", [])}
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["path"] in served[container["args"][0]]
                assert container[probe]["httpGet"]["port"] in ports
                probed += 1
    assert probed == 4


def test_the_consumers_health_path_answers() -> None:
    port = free_ports(1)[0]
    server = consumer_metrics.serve(consumer_metrics.Metrics(), port, host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{port}{consumer_metrics.HEALTH_PATH}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert answer.status == 200
            assert answer.read() == consumer_metrics.HEALTH_BODY
    finally:
        server.shutdown()
        server.server_close()


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
