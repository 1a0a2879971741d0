"""A throwaway single-node Apache Kafka broker (KRaft) for development and tests.

The jars come from Maven Central (`kafka/pom.xml`) and are cached in `.cache/kafka-<version>/`.
`start()` writes a combined broker+controller configuration into a private folder, formats the
storage with a random cluster id, starts `kafka.Kafka` on two free loopback ports and waits until
the broker serves metadata; `stop()` ends it and removes the folder.

    python deploy/local/kafka.py start [--dir DIR]   # prints the bootstrap servers
    python deploy/local/kafka.py status --dir DIR
    python deploy/local/kafka.py stop --dir DIR
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

HERE = Path(__file__).resolve().parent
POM_PATH = HERE / "kafka" / "pom.xml"
CACHE_ROOT = HERE / ".cache"
POM_NAMESPACE = {"maven": "http://maven.apache.org/POM/4.0.0"}
POM_STAMP_FILE_NAME = "pom.sha256"

# The main classes behind kafka-server-start.sh and kafka-storage.sh of the binary release.
BROKER_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"
NODE_ID = 1
LISTEN_HOST = "127.0.0.1"
STATE_FILE_NAME = "broker.json"
PROPERTIES_FILE_NAME = "server.properties"
LOGGING_FILE_NAME = "log4j2.properties"
LOG_FILE_NAME = "broker.log"
# A bounded heap: a test broker holds little, and the machine runs PostgreSQL and the tests too.
# The broker keeps the full JIT, so that throughput measured against it means something.
BROKER_JVM_OPTIONS = ("-Xmx512m", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true")
# The storage formatter lives a second: the quick JIT tier and the serial collector halve that.
TOOL_JVM_OPTIONS = ("-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")

MAVEN_TIMEOUT_S = 900
FORMAT_TIMEOUT_S = 120
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 30
KILL_TIMEOUT_S = 10
READY_POLL_INTERVAL_S = 0.25
READY_CONNECT_TIMEOUT_S = 1.0
READY_REQUEST_TIMEOUT_MS = 5000
LOG_TAIL_LINES_MAX = 40
LOG_TAIL_BYTES_MAX = 64 * 1024  # The log grows over a session; read only its end.
EXIT_STATUS_NOT_RUNNING = 3  # As `pg_ctl status` and LSB init scripts say "not running".

# auto.create.topics.enable=false: tests and operators create topics explicitly with the partition
# count they rely on; auto-creation would turn a misspelt topic into a silent 1-partition topic.
# The internal topics get one partition and one replica: there is one node, and the default 50
# partitions of __consumer_offsets cost seconds at the first consumer-group join.
# After a crash (`kill()`), the restarted broker may only register once the controller has expired
# the dead one's session: 4 s instead of the default 9 s, still four missed 1 s heartbeats.
SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={node_id}@{host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs={log_dirs}
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
"""

# One file, appended across restarts; the configuration dumps are WARN-only to keep it readable.
LOGGING_PROPERTIES = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
"""


class BrokerError(Exception):
    """The local Kafka broker could not be built, started or stopped."""


@dataclass
class KafkaBroker:
    """A throwaway broker; `stop()` ends it and deletes its folder, `restart()` keeps the data."""

    bootstrap_servers: str
    port: int
    controller_port: int
    base_dir: Path
    jars_dir: Path
    process_id: int | None = None
    # Only the process that started the broker holds it; it reaps the exited JVM.
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """SIGTERM (a controlled shutdown), SIGKILL past STOP_TIMEOUT_S; delete the folder."""
        self._end_process(signal.SIGTERM, STOP_TIMEOUT_S)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL, like a crash; the data stays for `restart()`, which recovers the logs."""
        self._end_process(signal.SIGKILL, KILL_TIMEOUT_S)

    def restart(self) -> None:
        """Stop the process if it runs, keep the data, start again on the same ports."""
        self._end_process(signal.SIGTERM, STOP_TIMEOUT_S)
        self._launch()
        self.wait_until_serving()

    def is_running(self) -> bool:
        """Whether this broker's JVM is alive."""
        if self.process is not None:
            return self.process.poll() is None
        return self.process_id is not None and _is_our_broker(self.process_id, self.base_dir)

    def wait_until_serving(self) -> None:
        """Block until the broker answers metadata requests as an unfenced broker."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _serves_metadata(self.bootstrap_servers, self.port):
            if not self.is_running():
                raise BrokerError(f"the broker exited during start\n{self._log_tail()}")
            if time.monotonic() >= deadline:
                self._end_process(signal.SIGKILL, KILL_TIMEOUT_S)
                raise BrokerError(
                    f"the broker did not serve metadata within {START_TIMEOUT_S} s\n"
                    f"{self._log_tail()}"
                )
            time.sleep(READY_POLL_INTERVAL_S)

    def _launch(self) -> None:
        if not self.base_dir.is_dir():
            raise BrokerError(f"{self.base_dir} is gone: a stopped broker cannot start again")
        command = [
            *_java_command(self.base_dir, self.jars_dir, BROKER_JVM_OPTIONS, BROKER_CLASS),
            _properties(self),
        ]
        with (self.base_dir / LOG_FILE_NAME).open("ab") as log:
            try:
                # start_new_session: Ctrl-C in a terminal must not reach the JVM; its owner stops
                # it, in order.
                self.process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.base_dir,
                    start_new_session=True,
                )
            except OSError as error:
                raise BrokerError(f"could not run {command[0]}: {error}") from error
        self.process_id = self.process.pid
        _save_state(self)

    def _end_process(self, first_signal: signal.Signals, timeout_s: float) -> None:
        if not self.is_running():
            return
        assert self.process_id is not None, "a running broker has a process id"
        _send_signal(self.process_id, first_signal)
        if self._wait_for_exit(timeout_s):
            return
        _send_signal(self.process_id, signal.SIGKILL)
        if not self._wait_for_exit(KILL_TIMEOUT_S):
            raise BrokerError(f"broker process {self.process_id} survived SIGKILL")

    def _wait_for_exit(self, timeout_s: float) -> bool:
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout_s
        while self.is_running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(READY_POLL_INTERVAL_S)
        return True

    def _log_tail(self) -> str:
        path = self.base_dir / LOG_FILE_NAME
        try:
            with path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_TAIL_BYTES_MAX))
                lines = log.read().decode("utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return f"(no log file {path})"
        return f"last lines of {path}:\n" + "\n".join(lines[-LOG_TAIL_LINES_MAX:])

    def __enter__(self) -> KafkaBroker:
        return self

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start(directory: Path | None = None) -> KafkaBroker:
    """Format a new broker in `directory` (new or empty; a temporary folder when None), start it
    and wait until it serves metadata."""
    jars_dir = ensure_jars()
    base_dir = _make_base_dir(directory)
    port, controller_port = free_ports(2)
    broker = KafkaBroker(
        bootstrap_servers=f"{LISTEN_HOST}:{port}",
        port=port,
        controller_port=controller_port,
        base_dir=base_dir,
        jars_dir=jars_dir,
    )
    try:
        _write_configuration(broker)
        _format_storage(broker)
        broker._launch()
        broker.wait_until_serving()
    except BaseException:
        # Also on Ctrl-C: a half-started JVM would outlive us otherwise.
        broker.stop()
        raise
    return broker


def load(directory: Path) -> KafkaBroker:
    """The broker that `start()` (usually the CLI) left in `directory`."""
    state_path = directory / STATE_FILE_NAME
    try:
        state: dict[str, Any] = json.loads(state_path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise BrokerError(f"no broker state in {state_path}") from error
    return KafkaBroker(
        bootstrap_servers=state["bootstrap_servers"],
        port=state["port"],
        controller_port=state["controller_port"],
        base_dir=Path(state["base_dir"]),
        jars_dir=Path(state["jars_dir"]),
        process_id=state["process_id"],
    )


def kafka_version(pom_path: Path = POM_PATH) -> str:
    """The Kafka release that the pom names (its `kafka.version` property)."""
    root = ElementTree.parse(pom_path).getroot()
    version = root.findtext("maven:properties/maven:kafka.version", namespaces=POM_NAMESPACE)
    if not version:
        raise BrokerError(f"{pom_path} has no <kafka.version> property")
    return version


def ensure_jars(pom_path: Path = POM_PATH, cache_root: Path = CACHE_ROOT) -> Path:
    """The folder of broker jars, copied by Maven on first use and kept while the pom is unchanged.

    The folder appears complete or not at all (Maven fills a temporary sibling, then a rename).
    """
    target = cache_root / f"kafka-{kafka_version(pom_path)}"
    stamp = hashlib.sha256(pom_path.read_bytes()).hexdigest()
    if read_stamp(target, POM_STAMP_FILE_NAME) == stamp:
        return target
    maven = shutil.which("mvn")
    if maven is None:
        raise BrokerError("Maven (`mvn`) not found: install it (Debian: apt-get install -y maven)")
    return fill_once(target, stamp, POM_STAMP_FILE_NAME,
                     lambda staging: _copy_dependencies(maven, pom_path, staging))


def fill_once(target: Path, stamp: str, stamp_file_name: str,
              make: Callable[[Path], None]) -> Path:
    """`target`, filled by `make(staging)` unless it already holds what `stamp` names (written
    in `stamp_file_name`). The folder appears complete or not at all: `make` fills a temporary
    sibling, then a rename; a concurrent run that finished first wins."""
    if read_stamp(target, stamp_file_name) == stamp:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        make(staging)
        (staging / stamp_file_name).write_text(stamp, encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private; jars and schemas are no secret.
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    except OSError:
        if read_stamp(target, stamp_file_name) != stamp:
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback TCP ports that nothing listens on right now."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:  # All held open at once, so the ports differ.
            probe.bind((LISTEN_HOST, 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _copy_dependencies(maven: str, pom_path: Path, output_dir: Path) -> None:
    command = [
        maven, "-B", "-q", "-f", str(pom_path), "dependency:copy-dependencies",
        f"-DoutputDirectory={output_dir}", "-DincludeScope=runtime",
    ]  # fmt: skip
    print(f"fetching the Kafka jars with Maven into {output_dir.parent}", file=sys.stderr)
    _run(command, MAVEN_TIMEOUT_S, "fetching the Kafka jars with Maven")


def read_stamp(folder: Path, stamp_file_name: str) -> str | None:
    try:
        return (folder / stamp_file_name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _make_base_dir(directory: Path | None) -> Path:
    if directory is None:
        return Path(tempfile.mkdtemp(prefix="cpa-kafka-"))
    base_dir = directory.resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    if any(base_dir.iterdir()):
        raise BrokerError(f"{base_dir} is not empty; give a new or empty folder")
    return base_dir


def _write_configuration(broker: KafkaBroker) -> None:
    properties = SERVER_PROPERTIES.format(
        node_id=NODE_ID,
        host=LISTEN_HOST,
        port=broker.port,
        controller_port=broker.controller_port,
        log_dirs=broker.base_dir / "data",
    )
    Path(_properties(broker)).write_text(properties, encoding="utf-8")
    (broker.base_dir / LOGGING_FILE_NAME).write_text(LOGGING_PROPERTIES, encoding="utf-8")


def _format_storage(broker: KafkaBroker) -> None:
    tool = _java_command(broker.base_dir, broker.jars_dir, TOOL_JVM_OPTIONS, STORAGE_TOOL_CLASS)
    arguments = ["format", "--cluster-id", _new_cluster_id(), "--config", _properties(broker)]
    _run(
        [*tool, *arguments], FORMAT_TIMEOUT_S, "formatting the broker storage", cwd=broker.base_dir
    )


def _run(command: list[str], timeout_s: float, what: str, cwd: Path | None = None) -> None:
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, cwd=cwd
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise BrokerError(f"{what} failed: {error}") from error
    if completed.returncode != 0:
        raise BrokerError(
            f"{what} failed (exit code {completed.returncode}):\n"
            f"{completed.stdout}{completed.stderr}"
        )


def _send_signal(process_id: int, signal_number: signal.Signals) -> None:
    # It may have exited on its own meanwhile; the caller's wait sees that.
    with contextlib.suppress(ProcessLookupError):
        os.kill(process_id, signal_number)


def _new_cluster_id() -> str:
    """A Kafka `Uuid` in its text form: 16 random bytes, URL-safe base64 without padding."""
    while True:  # Ends at once with probability 63/64: a leading "-" would read as an option.
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not text.startswith("-"):
            return text


def _java_command(
    base_dir: Path, jars_dir: Path, jvm_options: tuple[str, ...], main_class: str
) -> list[str]:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if java is None or not Path(java).is_file():
        raise BrokerError(
            "Java not found: install a JDK 17+ (Debian: apt-get install -y "
            "openjdk-17-jre-headless) or set JAVA_HOME"
        )
    logging = f"-Dlog4j2.configurationFile={base_dir / LOGGING_FILE_NAME}"
    # "dir/*" is expanded by java itself to every jar in the folder.
    return [java, *jvm_options, logging, "-cp", str(jars_dir / "*"), main_class]


def _properties(broker: KafkaBroker) -> str:
    return str(broker.base_dir / PROPERTIES_FILE_NAME)


def _save_state(broker: KafkaBroker) -> None:
    state = {
        "bootstrap_servers": broker.bootstrap_servers,
        "port": broker.port,
        "controller_port": broker.controller_port,
        "base_dir": str(broker.base_dir),
        "jars_dir": str(broker.jars_dir),
        "process_id": broker.process_id,
    }
    (broker.base_dir / STATE_FILE_NAME).write_text(json.dumps(state, indent=2), encoding="utf-8")


def _is_our_broker(process_id: int, base_dir: Path) -> bool:
    """Whether the process exists and is the JVM of this folder (a process id can be reused)."""
    try:
        command_line = Path(f"/proc/{process_id}/cmdline").read_bytes()
        status = Path(f"/proc/{process_id}/stat").read_text(encoding="ascii")
    except (FileNotFoundError, ProcessLookupError):
        return False
    is_zombie = status.rsplit(")", 1)[1].split()[0] == "Z"
    return not is_zombie and str(base_dir / PROPERTIES_FILE_NAME).encode() in command_line


def _serves_metadata(bootstrap_servers: str, port: int) -> bool:
    """One readiness probe: the port accepts, then the broker lists itself, unfenced."""
    # Imported here: run as `python deploy/local/kafka.py`, this file would otherwise shadow the
    # kafka-python package (main() drops this folder from sys.path first).
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        socket.create_connection((LISTEN_HOST, port), READY_CONNECT_TIMEOUT_S).close()
    except OSError:
        return False
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id="cpa-local-readiness",
            request_timeout_ms=READY_REQUEST_TIMEOUT_MS,
            bootstrap_timeout_ms=READY_REQUEST_TIMEOUT_MS,
        )
    except KafkaError:
        return False
    try:
        brokers: list[dict[str, Any]] = admin.describe_cluster()["brokers"]
    except KafkaError:
        return False
    finally:
        admin.close()
    return any(b["broker_id"] == NODE_ID and not b.get("is_fenced") for b in brokers)


def main(arguments: list[str] | None = None) -> int:
    """The command line: start, status, stop."""
    if sys.path and Path(sys.path[0] or ".").resolve() == HERE:
        del sys.path[0]  # See _serves_metadata: keep `import kafka` meaning kafka-python.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=["start", "status", "stop"])
    parser.add_argument("--dir", type=Path, help="broker folder (start: new or empty)")
    options = parser.parse_args(arguments)
    if options.command != "start" and options.dir is None:
        parser.error(f"{options.command} needs --dir")
    try:
        return _command(options.command, options.dir)
    except BrokerError as error:
        print(f"kafka.py: {error}", file=sys.stderr)
        return 1


def _command(command: str, directory: Path | None) -> int:
    if command == "start":
        broker = start(directory)
        print(f"Kafka {kafka_version()} running in {broker.base_dir}", file=sys.stderr)
        print(broker.bootstrap_servers)
        return 0
    assert directory is not None, "main() requires --dir for status and stop"
    broker = load(directory)
    if command == "stop":
        broker.stop()
        return 0
    running = broker.is_running()
    print(f"{'running' if running else 'stopped'} {broker.bootstrap_servers}")
    return 0 if running else EXIT_STATUS_NOT_RUNNING


if __name__ == "__main__":
    sys.exit(main())
