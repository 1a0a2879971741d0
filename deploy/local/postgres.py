"""A throwaway PostgreSQL cluster for development and tests, from the system's server binaries.

`start()` runs `initdb` into a private folder, listens on 127.0.0.1 on a free port, creates the
database `cpa` and returns a `PostgresServer`; `stop()` shuts it down and removes the folder.

    python deploy/local/postgres.py start [--dir DIR] [--install]   # prints the URL
    python deploy/local/postgres.py status --dir DIR
    python deploy/local/postgres.py stop --dir DIR
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

DATABASE_NAME = "cpa"
SUPERUSER_NAME = "postgres"
# PostgreSQL refuses to run as root; as root we run the server as this unprivileged account.
SERVICE_ACCOUNT_NAME = "postgres"
LISTEN_HOST = "127.0.0.1"
BINARIES_GLOB_PARENT = Path("/usr/lib/postgresql")
SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres", "createdb")
STATE_FILE_NAME = "server.json"
LOG_FILE_NAME = "postgres.log"

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60
COMMAND_TIMEOUT_S = 120
INSTALL_TIMEOUT_S = 900
LOG_TAIL_LINES_MAX = 30
PG_CTL_STATUS_NOT_RUNNING = 3

INSTALL_HINT = (
    "install the PostgreSQL server (Debian/Ubuntu: `sudo apt-get update && sudo apt-get install "
    "-y postgresql`), or run as root with --install (or with CI set) to let this script do it"
)

SERVER_SETTINGS = """
# --- cpa-ledger throwaway cluster (deploy/local/postgres.py) ---
listen_addresses = '{host}'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 100
timezone = 'UTC'
log_timezone = 'UTC'
# Durability off: this cluster lives for one test session and is deleted afterwards, so surviving
# an operating-system crash or power cut buys nothing, and skipping the flushes saves seconds per
# run. A process crash (`kill()`) still recovers, since the writes sit in the OS page cache.
# Never copy these three lines into a real cluster.
fsync = off
synchronous_commit = off
full_page_writes = off
# As deploy/k8s/postgres.yaml gives each shard (there 2GB): with the default 128MB, a store of
# 30 000 persons no longer fits and loading a batch's persons (their latest snapshot and the
# events since, on pages scattered through the table) reads most pages from the OS instead.
shared_buffers = 1GB
"""

# Trust, because the cluster only listens on loopback and its socket folder is private (0700).
CLIENT_AUTHENTICATION = """\
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
"""


class PostgresError(Exception):
    """The local PostgreSQL server could not be found, installed, started or stopped."""


@dataclass(frozen=True)
class Account:
    """The unprivileged user that runs the server when we are root."""

    name: str
    user_id: int
    group_id: int


@dataclass
class PostgresServer:
    """A running throwaway cluster; `stop()` ends it and deletes its folder."""

    url: str
    port: int
    data_dir: Path
    base_dir: Path
    binaries_dir: Path
    account: Account | None

    def stop(self) -> None:
        """Shut down (fast mode: roll back open transactions) and delete the folder."""
        if self.is_running():
            _pg_ctl(self, "stop", "-w", "-m", "fast", "-t", str(STOP_TIMEOUT_S))
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def restart(self) -> None:
        """Shut down cleanly and start again on the same port, keeping the data."""
        if not self.data_dir.is_dir():
            raise PostgresError(f"{self.data_dir} is gone: a stopped cluster cannot start again")
        if self.is_running():
            _pg_ctl(self, "stop", "-w", "-m", "fast", "-t", str(STOP_TIMEOUT_S))
        _start_server(self)

    def kill(self) -> None:
        """Stop like a crash (immediate mode: no checkpoint); `restart()` then recovers."""
        if self.is_running():
            _pg_ctl(self, "stop", "-w", "-m", "immediate", "-t", str(STOP_TIMEOUT_S))

    def is_running(self) -> bool:
        """Whether the postmaster of this cluster is alive."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        completed = _run(self.account, _program(self, "pg_ctl"), "status", "-D", str(self.data_dir))
        return completed.returncode == 0

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start(directory: Path | None = None, install: bool | None = None) -> PostgresServer:
    """Create a cluster in `directory` (new or empty; a temporary folder when None) and start it.

    `install`: may `apt-get install postgresql` when the binaries are missing and we are root;
    None means "only under CI".
    """
    binaries_dir = ensure_binaries(bool(os.environ.get("CI")) if install is None else install)
    account = _service_account()
    base_dir = _make_base_dir(directory, account)
    port = free_port()
    server = PostgresServer(
        url=f"postgresql://{SUPERUSER_NAME}@{LISTEN_HOST}:{port}/{DATABASE_NAME}",
        port=port,
        data_dir=base_dir / "data",
        base_dir=base_dir,
        binaries_dir=binaries_dir,
        account=account,
    )
    try:
        _initialise(server)
        _start_server(server)
        _create_database(server)
        _save_state(server)
    except BaseException:
        # Also on Ctrl-C: a half-started cluster would outlive us otherwise.
        server.stop()
        raise
    return server


def load(directory: Path) -> PostgresServer:
    """The cluster that `start()` (usually the CLI) left in `directory`."""
    state_path = directory / STATE_FILE_NAME
    try:
        state: dict[str, Any] = json.loads(state_path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise PostgresError(f"no cluster state in {state_path}") from error
    account = state["account"]
    return PostgresServer(
        url=state["url"],
        port=state["port"],
        data_dir=Path(state["data_dir"]),
        base_dir=Path(state["base_dir"]),
        binaries_dir=Path(state["binaries_dir"]),
        account=None if account is None else Account(**account),
    )


def find_binaries() -> Path | None:
    """The folder holding the server programs: from PATH first, else the newest Debian layout."""
    on_path = shutil.which("pg_ctl")
    candidates = [] if on_path is None else [Path(on_path).resolve().parent]
    installed = sorted(
        BINARIES_GLOB_PARENT.glob("*/bin"),
        key=lambda path: _version_key(path.parent.name),
        reverse=True,
    )
    for candidate in [*candidates, *installed]:
        if all((candidate / program).is_file() for program in SERVER_PROGRAMS):
            return candidate
    return None


def ensure_binaries(install: bool) -> Path:
    """`find_binaries()`, installing the Debian package first when allowed and needed."""
    found = find_binaries()
    if found is not None:
        return found
    if not (install and os.geteuid() == 0):
        raise PostgresError(f"PostgreSQL server programs not found; {INSTALL_HINT}")
    print("PostgreSQL server not found; installing it with apt-get", file=sys.stderr)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        _run_as_root(command, INSTALL_TIMEOUT_S, environment)
    found = find_binaries()
    if found is None:
        raise PostgresError("apt-get installed postgresql but its server programs are not found")
    return found


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LISTEN_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _service_account() -> Account | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVICE_ACCOUNT_NAME)
    except KeyError:
        useradd = ["useradd", "--system", "--user-group", "--no-create-home", SERVICE_ACCOUNT_NAME]
        _run_as_root(useradd, COMMAND_TIMEOUT_S, dict(os.environ))
        entry = pwd.getpwnam(SERVICE_ACCOUNT_NAME)
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _make_base_dir(directory: Path | None, account: Account | None) -> Path:
    if directory is None:
        base_dir = Path(tempfile.mkdtemp(prefix="cpa-postgres-"))
    else:
        base_dir = directory.resolve()
        base_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if any(base_dir.iterdir()):
            raise PostgresError(f"{base_dir} is not empty; give a new or empty folder")
    socket_dir = base_dir / "socket"
    socket_dir.mkdir(mode=0o700)
    if account is not None:
        for path in (base_dir, socket_dir):
            os.chown(path, account.user_id, account.group_id)
    return base_dir


def _initialise(server: PostgresServer) -> None:
    initdb = [
        _program(server, "initdb"),
        f"--pgdata={server.data_dir}",
        f"--username={SUPERUSER_NAME}",
        "--auth=trust",
        "--no-locale",
        "--encoding=UTF8",
        # The cluster is thrown away after the session; flushing its files to disk is wasted time.
        "--no-sync",
    ]
    try:
        _run_checked(server, *initdb)
    except PostgresError as error:
        if server.account is None:
            raise
        hint = f"(user {server.account.name} must be able to reach {server.base_dir})"
        raise PostgresError(f"{error}\n{hint}") from error
    settings = SERVER_SETTINGS.format(
        host=LISTEN_HOST, port=server.port, socket_dir=server.base_dir / "socket"
    )
    with (server.data_dir / "postgresql.conf").open("a", encoding="utf-8") as configuration:
        configuration.write(settings)
    (server.data_dir / "pg_hba.conf").write_text(CLIENT_AUTHENTICATION, encoding="utf-8")


def _start_server(server: PostgresServer) -> None:
    log_path = server.base_dir / LOG_FILE_NAME
    try:
        _pg_ctl(server, "start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(log_path))
    except PostgresError as error:
        raise PostgresError(f"{error}\nlast lines of {log_path}:\n{_tail(log_path)}") from error


def _create_database(server: PostgresServer) -> None:
    # A client over TCP, as the tests connect; no need to switch user for it.
    createdb = _program(server, "createdb")
    address = ["--host", LISTEN_HOST, "--port", str(server.port), "--username", SUPERUSER_NAME]
    _run_checked(server, createdb, *address, DATABASE_NAME, as_account=False)


def _save_state(server: PostgresServer) -> None:
    state = {
        "url": server.url,
        "port": server.port,
        "data_dir": str(server.data_dir),
        "base_dir": str(server.base_dir),
        "binaries_dir": str(server.binaries_dir),
        "account": None if server.account is None else vars(server.account),
    }
    (server.base_dir / STATE_FILE_NAME).write_text(json.dumps(state, indent=2), encoding="utf-8")


def _pg_ctl(server: PostgresServer, *arguments: str) -> None:
    _run_checked(server, _program(server, "pg_ctl"), *arguments, "-D", str(server.data_dir))


def _program(server: PostgresServer, name: str) -> str:
    return str(server.binaries_dir / name)


def _run_checked(server: PostgresServer, *command: str, as_account: bool = True) -> None:
    completed = _run(server.account if as_account else None, *command)
    if completed.returncode != 0:
        raise PostgresError(
            f"`{' '.join(command)}` failed with exit code {completed.returncode}:\n"
            f"{completed.stdout}{completed.stderr}"
        )


def _run(account: Account | None, *command: str) -> subprocess.CompletedProcess[str]:
    # cwd: the programs fail when they cannot read the current folder (root's home, say).
    # start_new_session: Ctrl-C in the terminal must not reach the postmaster that pg_ctl forks;
    # the owner stops it in order.
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            cwd="/",
            start_new_session=True,
            user=None if account is None else account.user_id,
            group=None if account is None else account.group_id,
            extra_groups=None if account is None else [],
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise PostgresError(f"`{' '.join(command)}` could not run: {error}") from error


def _run_as_root(command: list[str], timeout_s: float, environment: dict[str, str]) -> None:
    """A system change (package, account); its output goes to our terminal."""
    try:
        subprocess.run(command, check=True, env=environment, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError) as error:
        raise PostgresError(f"`{' '.join(command)}` failed: {error}") from error


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(lines[-LOG_TAIL_LINES_MAX:])


def main(arguments: list[str] | None = None) -> int:
    """The command line: start, status, stop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=["start", "status", "stop"])
    parser.add_argument("--dir", type=Path, help="cluster folder (start: new or empty)")
    parser.add_argument("--install", action="store_true", help="apt-get install if missing")
    options = parser.parse_args(arguments)
    if options.command != "start" and options.dir is None:
        parser.error(f"{options.command} needs --dir")
    try:
        return _command(options.command, options.dir, options.install)
    except PostgresError as error:
        print(f"postgres.py: {error}", file=sys.stderr)
        return 1


def _command(command: str, directory: Path | None, install: bool) -> int:
    if command == "start":
        server = start(directory, install=install or None)
        print(f"PostgreSQL running in {server.base_dir}", file=sys.stderr)
        print(server.url)
        return 0
    assert directory is not None, "main() requires --dir for status and stop"
    server = load(directory)
    if command == "stop":
        server.stop()
        return 0
    running = server.is_running()
    print(f"{'running' if running else 'stopped'} {server.url}")
    return 0 if running else PG_CTL_STATUS_NOT_RUNNING


if __name__ == "__main__":
    sys.exit(main())
