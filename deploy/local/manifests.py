"""Checks deploy/k8s and deploy/compose.yaml without a cluster or a Docker engine.

- `render(folder)` reads a kustomization the way `kubectl apply -k` would for the features it
  uses (resources, configMapGenerator, images, namespace, labels); any other field is refused,
  so that nothing is left unchecked by being unknown here.
- `kubernetes_problems` checks Kubernetes' own kinds against their JSON schemas (the strict
  ones: an unknown field is an error), from the `kubernetes-validate` package.
- `CustomResourceSchemas` checks custom resources against their CRDs' OpenAPI schemas, made
  strict the same way (an object schema lists its fields unless it says it keeps unknown ones),
  and against the CRDs' CEL rules (with `cel-python`).
- `compose_problems` checks a compose file against the compose-spec JSON schema.

    python deploy/local/manifests.py     # check deploy/k8s and deploy/compose.yaml, exit 1 if not
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import celpy
import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import yaml
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

if __package__ in (None, ""):  # Run as a script: make `deploy.local` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.local import manifest_schemas

DEPLOY = Path(__file__).resolve().parents[1]
K8S_FOLDER = DEPLOY / "k8s"
COMPOSE_PATH = DEPLOY / "compose.yaml"
KUSTOMIZATION_FIELDS = frozenset({
    "apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator", "images"})
ERRORS_PER_RESOURCE_MAX = 20
# libyaml's safe loader when PyYAML was built with it: the CRDs are 800 kB of YAML.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# A Kubernetes object as YAML gives it: nested mappings and lists of plain values.
Resource = dict[str, Any]


class KustomizationError(ValueError):
    """The kustomization uses a feature `render` does not know, or names a missing file."""


def load_documents(path: Path) -> list[Resource]:
    """The non-empty YAML documents of a file."""
    with path.open(encoding="utf-8") as stream:
        return [document for document in yaml.load_all(stream, Loader=SAFE_LOADER)
                if document is not None]


def render(folder: Path = K8S_FOLDER) -> list[Resource]:
    """The resources that `kubectl apply -k folder` would send (generated names unhashed)."""
    [kustomization] = load_documents(folder / "kustomization.yaml")
    unknown = set(kustomization) - KUSTOMIZATION_FIELDS
    if unknown:
        raise KustomizationError(f"fields render() does not know: {sorted(unknown)}")
    resources = [document for name in kustomization.get("resources", [])
                 for document in load_documents(_inside(folder, name))]
    resources += [_generated_config_map(folder, generator)
                  for generator in kustomization.get("configMapGenerator", [])]
    for resource in resources:
        _apply_images(resource, kustomization.get("images", []))
        _apply_labels(resource, kustomization.get("labels", []))
        if kustomization.get("namespace") and resource["kind"] != "Namespace":
            resource.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    return resources


def _inside(folder: Path, name: str) -> Path:
    path = (folder / name).resolve()
    if folder.resolve() not in path.parents or not path.is_file():
        raise KustomizationError(f"{name}: not a file inside {folder}")
    return path


def _generated_config_map(folder: Path, generator: Mapping[str, Any]) -> Resource:
    unknown = set(generator) - {"name", "files", "literals"}
    if unknown:
        raise KustomizationError(f"configMapGenerator fields unknown here: {sorted(unknown)}")
    data = {Path(name).name: _inside(folder, name).read_text(encoding="utf-8")
            for name in generator.get("files", [])}
    data.update(literal.split("=", 1) for literal in generator.get("literals", []))
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]},
            "data": data}


def _apply_images(resource: Resource, images: Iterable[Mapping[str, str]]) -> None:
    for container in containers(resource):
        for image in images:
            if container.get("image") == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"


def _apply_labels(resource: Resource, labels: Iterable[Mapping[str, Any]]) -> None:
    for entry in labels:
        if entry.get("includeSelectors", False):
            raise KustomizationError("labels with includeSelectors are not rendered here")
        resource.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])


def pod_spec(resource: Resource) -> Resource | None:
    """The pod template's spec of a workload, None for other kinds."""
    if resource.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        spec: Resource = resource["spec"]["template"]["spec"]
        return spec
    return None


def containers(resource: Resource) -> Iterator[Resource]:
    spec = pod_spec(resource)
    if spec is not None:
        yield from spec.get("initContainers", [])
        yield from spec.get("containers", [])


def kubernetes_problems(resource: Resource,
                        version: str = manifest_schemas.KUBERNETES_VERSION) -> list[str]:
    """What the Kubernetes API schema (strict) finds wrong with one standard resource."""
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{_name(resource)}: {_path(error)}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"{_name(resource)}: {error.message}"]
    return []


class CustomResourceSchemas:
    """The strict JSON schemas of custom resources, by (apiVersion, kind), from CRD files, and
    their CEL rules (`x-kubernetes-validations`), which the API server checks besides."""

    def __init__(self, crd_paths: Iterable[Path]) -> None:
        self.validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
        self.schemas: dict[tuple[str, str], Resource] = {}
        self.rules = CelRules()
        for path in crd_paths:
            for crd in load_documents(path):
                self._add(crd)

    def _add(self, crd: Resource) -> None:
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served", False):
                key = (f"{group}/{version['name']}", kind)
                self.schemas[key] = version["schema"]["openAPIV3Schema"]
                self.validators[key] = jsonschema.Draft4Validator(
                    strict_schema(self.schemas[key]))

    def knows(self, resource: Resource) -> bool:
        return (resource.get("apiVersion"), resource.get("kind")) in self.validators

    def problems(self, resource: Resource) -> list[str]:
        key = (resource["apiVersion"], resource["kind"])
        errors = sorted(self.validators[key].iter_errors(resource),
                        key=lambda error: list(error.path))
        found = [f"{_name(resource)}: {_path(error)}: {error.message}" for error in errors]
        found += [f"{_name(resource)}: {problem}"
                  for problem in self.rules.problems(self.schemas[key], resource)]
        return found[:ERRORS_PER_RESOURCE_MAX]


class CelRules:
    """The CEL rules of a CRD's schema, evaluated where the resource has a value for them.

    Transition rules (those reading `oldSelf`) are left out: they compare an update with the
    stored object, and here every resource is new. A rule that cannot be evaluated (it reads a
    field that is absent) fails, as on the API server."""

    def __init__(self) -> None:
        self.environment = celpy.Environment()
        self.programs: dict[str, Any] = {}

    def problems(self, schema: Resource, value: Any, path: str = "") -> list[str]:
        found = [f"{path or '(top)'}: {rule.get('message', rule['rule'])}"
                 for rule in schema.get("x-kubernetes-validations", [])
                 if "oldSelf" not in rule["rule"] and not self._holds(rule["rule"], value)]
        for key, child, child_schema in _children(schema, value):
            found += self.problems(child_schema, child, f"{path}/{key}".lstrip("/"))
        return found

    def _holds(self, rule: str, value: Any) -> bool:
        if rule not in self.programs:
            self.programs[rule] = self.environment.program(self.environment.compile(rule))
        try:
            result = self.programs[rule].evaluate({"self": json_to_cel(value)})
        except CELEvalError:
            return False
        return isinstance(result, celtypes.BoolType) and bool(result)


def _children(schema: Resource, value: Any) -> Iterator[tuple[str, Any, Resource]]:
    """Each part of `value` with the schema that describes it."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            child_schema = properties.get(key, extra if isinstance(extra, dict) else None)
            if child_schema is not None:
                yield key, child, child_schema
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, child in enumerate(value):
            yield str(index), child, schema["items"]


def default_custom_resource_schemas() -> CustomResourceSchemas:
    """CloudNativePG's and Strimzi's CRDs, fetched on first use (see manifest_schemas)."""
    folders = (manifest_schemas.cloudnative_pg_crds(), manifest_schemas.strimzi_crds())
    return CustomResourceSchemas(sorted(path for folder in folders
                                        for path in folder.glob("*.yaml")))


def strict_schema(schema: Any) -> Any:
    """A CRD's OpenAPI v3 schema as a JSON Schema that refuses fields the CRD does not list.

    The API server prunes unknown fields silently; refusing them here catches a misspelt or
    misplaced field, which would otherwise be dropped without a word."""
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict_schema(value) for key, value in schema.items()
              if key not in ("properties", "x-kubernetes-int-or-string", "nullable")}
    if "properties" in schema:
        result["properties"] = {name: strict_schema(value)
                                for name, value in schema["properties"].items()}
        if "additionalProperties" not in schema and \
                not schema.get("x-kubernetes-preserve-unknown-fields", False):
            result["additionalProperties"] = False
    if schema.get("x-kubernetes-int-or-string", False):
        result = {"anyOf": [{"type": "integer"}, {"type": "string"}], **result}
    if schema.get("nullable", False):
        result = {"anyOf": [{"type": "null"}, result]}
    return result


def compose_problems(document: Resource, schema_path: Path | None = None) -> list[str]:
    """What the compose-spec JSON schema finds wrong with a compose file (already parsed)."""
    path = schema_path or manifest_schemas.compose_schema()
    schema = json.loads(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda error: list(error.path))
    return [f"compose: {_path(error)}: {error.message}"
            for error in errors[:ERRORS_PER_RESOURCE_MAX]]


def all_problems(resources: Iterable[Resource], schemas: CustomResourceSchemas) -> list[str]:
    """Every resource checked against its schema, standard or custom."""
    problems: list[str] = []
    for resource in resources:
        problems += (schemas.problems(resource) if schemas.knows(resource)
                     else kubernetes_problems(resource))
    return problems


def _name(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"


def _path(error: jsonschema.ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "(top)"


def main() -> int:
    problems = all_problems(copy.deepcopy(render()), default_custom_resource_schemas())
    problems += compose_problems(load_documents(COMPOSE_PATH)[0])
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
