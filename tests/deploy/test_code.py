"""The deployment files agree with the code: every variable they set is read, every command they
run parses, the probes ask served paths, the shard map parses, the consumers are static members."""

from __future__ import annotations

import importlib
import importlib.util
import urllib.request
from typing import Any

import pytest

from consumers import limits as consumer_limits
from consumers import metrics as consumer_metrics
from consumers.settings import KafkaSettings
from deploy.local.kafka import free_ports
from ledger.cli import build_parser
from ledger.config import ConfigurationError, Settings
from ledger.http.routes import OPERATIONS
from tests.deploy.support import (
    FEED_TOPIC,
    SHARD_MAP_CONFIG_MAP,
    SHARD_MAP_PATH,
    SHARD_MAP_VARIABLE,
    Resource,
    compose_services,
    environment,
    kafka_settings,
    known_variables,
    named,
    of_kind,
    parse_shard_map,
    service_containers,
)


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
