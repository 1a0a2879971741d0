"""The schemas that deploy/k8s and deploy/compose.yaml are checked against, fetched once.

Each comes from a package registry through its own client and is cached under
`.cache/<name>-<version>/` (git-ignored); a folder appears complete or not at all:

- Kubernetes' own kinds: the PyPI package `kubernetes-validate` (a dev dependency) bundles their
  JSON schemas; nothing is fetched here.
- CloudNativePG's `Cluster`: the CRD files of the operator's Go module, by `go mod download`.
- Strimzi's `Kafka`, `KafkaNodePool`, `KafkaTopic`: Strimzi's own CRD generator run on its API
  model classes, both from Maven Central (`strimzi/pom.xml` says which releases), on Java 17+.
- The compose file: the compose-spec JSON schema of the reference implementation's Go module
  (`compose-go`, what `docker compose` validates with), by `go mod download`.

    python deploy/local/manifest_schemas.py      # fetch all (the tests do it on first use)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Callable
from pathlib import Path

from deploy.local import kafka as local_kafka

HERE = Path(__file__).resolve().parent
CACHE_ROOT = HERE / ".cache"
STRIMZI_POM_PATH = HERE / "strimzi" / "pom.xml"
POM_NAMESPACE = {"maven": "http://maven.apache.org/POM/4.0.0"}
STAMP_FILE_NAME = "source.sha256"

# The Kubernetes release whose schemas the standard kinds are checked against (the oldest one
# the manifests support: kustomize labels, PodDisruptionBudget policy/v1, sizeLimit...).
KUBERNETES_VERSION = "1.30"
CLOUDNATIVE_PG_MODULE = "github.com/cloudnative-pg/cloudnative-pg"
CLOUDNATIVE_PG_VERSION = "v1.27.1"
CLOUDNATIVE_PG_CRDS = ("config/crd/bases/postgresql.cnpg.io_clusters.yaml",)
COMPOSE_MODULE = "github.com/compose-spec/compose-go/v2"
COMPOSE_VERSION = "v2.17.0"
COMPOSE_SCHEMA = "schema/compose-spec.json"
# Strimzi's model class -> the CRD file it generates (the names of Strimzi's install files).
STRIMZI_CRDS = {
    "io.strimzi.api.kafka.model.kafka.Kafka": "040-Crd-kafka.yaml",
    "io.strimzi.api.kafka.model.topic.KafkaTopic": "043-Crd-kafkatopic.yaml",
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool": "04A-Crd-kafkanodepool.yaml",
}
STRIMZI_API_VERSION = "v1"
JAVA_VERSION_MIN = 17  # The project's Java; the pom's Strimzi jars are Java 11 class files.

GO_TIMEOUT_S = 300.0
MAVEN_TIMEOUT_S = 600.0
GENERATOR_TIMEOUT_S = 120.0
JAVA_PROBE_TIMEOUT_S = 30.0


class SchemaFetchError(RuntimeError):
    """A schema could not be fetched or made; the message says what to install."""


def cloudnative_pg_crds(cache_root: Path = CACHE_ROOT) -> Path:
    """The folder holding CloudNativePG's Cluster CRD."""
    target = cache_root / f"cloudnative-pg-{CLOUDNATIVE_PG_VERSION}"
    source = f"{CLOUDNATIVE_PG_MODULE}@{CLOUDNATIVE_PG_VERSION}"
    return _cached(target, source,
                   lambda staging: _copy_from_module(source, CLOUDNATIVE_PG_CRDS, staging))


def compose_schema(cache_root: Path = CACHE_ROOT) -> Path:
    """The compose-spec JSON schema file."""
    target = cache_root / f"compose-go-{COMPOSE_VERSION}"
    source = f"{COMPOSE_MODULE}@{COMPOSE_VERSION}"
    folder = _cached(target, source,
                     lambda staging: _copy_from_module(source, (COMPOSE_SCHEMA,), staging))
    return folder / Path(COMPOSE_SCHEMA).name


def strimzi_crds(cache_root: Path = CACHE_ROOT, pom_path: Path = STRIMZI_POM_PATH) -> Path:
    """The folder holding Strimzi's Kafka, KafkaNodePool and KafkaTopic CRDs."""
    target = cache_root / f"strimzi-{strimzi_version(pom_path)}"
    source = hashlib.sha256(pom_path.read_bytes()).hexdigest()
    return _cached(target, source, lambda staging: _generate_strimzi_crds(pom_path, staging))


def strimzi_version(pom_path: Path = STRIMZI_POM_PATH) -> str:
    root = ElementTree.parse(pom_path).getroot()
    version = root.findtext("maven:properties/maven:strimzi.version", namespaces=POM_NAMESPACE)
    if not version:
        raise SchemaFetchError(f"{pom_path} has no <strimzi.version> property")
    return version


def _cached(target: Path, source: str, make: Callable[[Path], None]) -> Path:
    """`target`, made by `make(staging)` unless it was already made from the same `source`."""
    return local_kafka.fill_once(target, source, STAMP_FILE_NAME, make)


def _copy_from_module(module_at_version: str, paths: tuple[str, ...], output_dir: Path) -> None:
    """Download one Go module's zip (into a throwaway module cache) and copy `paths` out of it.

    The zip, not the extracted folder: `go mod download` refuses to extract a module that needs
    a newer Go than the machine's, and nothing here is built."""
    go = shutil.which("go")
    if go is None:
        raise SchemaFetchError("Go (`go`) not found: install it (apt-get install -y golang)")
    with tempfile.TemporaryDirectory(prefix=".go-", dir=output_dir.parent) as scratch:
        environment = {**os.environ, "GOMODCACHE": str(Path(scratch) / "mod"),
                       "GOFLAGS": "-modcacherw", "GO111MODULE": "on"}
        print(f"fetching {module_at_version} with go mod download", file=sys.stderr)
        completed = _run_completed(
            [go, "mod", "download", "-json", module_at_version], GO_TIMEOUT_S,
            f"go mod download {module_at_version}", cwd=Path(scratch), environment=environment)
        zip_path = _module_zip(completed, module_at_version)
        with zipfile.ZipFile(zip_path) as archive:
            for path in paths:
                member = f"{module_at_version}/{path}"
                (output_dir / Path(path).name).write_bytes(archive.read(member))


def _module_zip(completed: subprocess.CompletedProcess[str], module_at_version: str) -> Path:
    try:
        zip_path = Path(json.loads(completed.stdout)["Zip"])
    except (ValueError, KeyError) as error:
        raise SchemaFetchError(f"go mod download {module_at_version} failed:\n"
                               f"{completed.stdout}{completed.stderr}"[:4000]) from error
    if not zip_path.is_file():
        raise SchemaFetchError(f"go mod download {module_at_version} gave no zip:\n"
                               f"{completed.stdout}{completed.stderr}"[:4000])
    return zip_path


def _generate_strimzi_crds(pom_path: Path, output_dir: Path) -> None:
    maven = shutil.which("mvn")
    if maven is None:
        raise SchemaFetchError("Maven (`mvn`) not found: install it (apt-get install -y maven)")
    java = find_java(JAVA_VERSION_MIN)
    with tempfile.TemporaryDirectory(prefix=".strimzi-jars-", dir=output_dir.parent) as jars:
        print("fetching Strimzi's API and CRD generator with Maven", file=sys.stderr)
        _run([maven, "-B", "-q", "-f", str(pom_path), "dependency:copy-dependencies",
              f"-DoutputDirectory={jars}", "-DincludeScope=runtime"], MAVEN_TIMEOUT_S,
             "fetching Strimzi's jars with Maven")
        _run([str(java), "-cp", f"{jars}/*", "io.strimzi.crdgenerator.CrdGenerator", "--yaml",
              "--crd-api-version", "v1", "--api-versions", STRIMZI_API_VERSION,
              "--storage-version", STRIMZI_API_VERSION,
              *(f"{model}={output_dir / name}" for model, name in STRIMZI_CRDS.items())],
             GENERATOR_TIMEOUT_S, "generating Strimzi's CRDs")


def find_java(version_min: int) -> Path:
    """JAVA_HOME's `java` if JAVA_HOME is set, else the PATH's, if at least `version_min`."""
    java_home = os.environ.get("JAVA_HOME")
    on_path = shutil.which("java")
    java = Path(java_home) / "bin" / "java" if java_home else Path(on_path) if on_path else None
    if java is None or not java.is_file():
        raise SchemaFetchError(
            f"Java not found: Strimzi's CRD generator needs Java {version_min}+ (Debian:"
            f" apt-get install -y openjdk-{version_min}-jre-headless) on PATH or in JAVA_HOME")
    major = _java_major(java)
    if major < version_min:
        raise SchemaFetchError(
            f"{java} is Java {major or '(unknown)'}: Strimzi's CRD generator needs Java"
            f" {version_min}+; set JAVA_HOME or PATH to one")
    return java


def _java_major(java: Path) -> int:
    try:
        completed = subprocess.run([str(java), "-version"], capture_output=True, text=True,
                                   timeout=JAVA_PROBE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return 0
    match = re.search(r'version "(\d+)', completed.stderr)
    return int(match.group(1)) if match else 0


def _run(command: list[str], timeout_s: float, what: str, cwd: Path | None = None) -> None:
    completed = _run_completed(command, timeout_s, what, cwd)
    if completed.returncode != 0:
        raise SchemaFetchError(f"{what} failed (exit code {completed.returncode}):\n"
                               f"{completed.stdout}{completed.stderr}"[:4000])


def _run_completed(command: list[str], timeout_s: float, what: str, cwd: Path | None = None,
                   environment: dict[str, str] | None = None
                   ) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              cwd=cwd, env=environment)
    except (OSError, subprocess.SubprocessError) as error:
        raise SchemaFetchError(f"{what} failed: {error}") from error


def main() -> int:
    try:
        for folder in (cloudnative_pg_crds(), strimzi_crds(), compose_schema().parent):
            print(folder)
    except SchemaFetchError as error:
        print(f"manifest_schemas: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
