"""What the deployment tests share: the shard map's rules, and lookups in rendered manifests."""

from __future__ import annotations

import secrets
import tomllib
from collections.abc import Iterator
from typing import Any

from consumers.settings import VARIABLES as KAFKA_VARIABLES
from consumers.settings import KafkaSettings
from deploy.local import manifests
from ledger.config import VARIABLES as LEDGER_VARIABLES
from ledger.config import Settings
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
# once merged, `named_by_code` in test_topology.py holds it too.
CONTROL_TOPIC = "cpa.ledger.control.v1"
PARTITIONED_LIKE_THE_FEED = (FEED_TOPIC, CONTROL_TOPIC)  # consume checks both against the map
KAFKA_BOOTSTRAP_SUFFIX = "-kafka-bootstrap"


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
