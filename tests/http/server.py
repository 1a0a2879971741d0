"""A real `cpa-ledger serve` process on a free port, for the HTTP tests and the benchmark."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ledger.application import Ledger
from ledger.config import Settings
from projections.runner import Runner, live_names

ROOT = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
POLL_INTERVAL_SECONDS = 0.1
REQUEST_TIMEOUT_SECONDS = 120
LOG_TAIL_CHARS = 4_000
# A year close posted over HTTP is swept in the background: its status is polled until then.
CLOSE_TIMEOUT_SECONDS = 120
CLOSE_POLL_SECONDS = 0.05
SECRET = "http-tests-person-key-secret-0123456789"
# One token per scope, and the name of its client in the tokens file.
TOKENS = {scope: f"token-for-{scope}-0123456789" for scope in ("ingest", "read", "audit", "admin")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_tokens(path: Path, tokens: Mapping[str, str] = TOKENS) -> Path:
    lines = ["# the HTTP tests' clients: NAME sha256:HEX SCOPE[,SCOPE...]"]
    for scope, token in tokens.items():
        lines.append(f"{scope}-client sha256:{hashlib.sha256(token.encode()).hexdigest()} "
                     f"{scope}  # one scope each")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def environment(database_url: str, **overrides: str | None) -> dict[str, str]:
    """The process environment without any CPA_* of the caller, plus ours."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("CPA_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    base.update({"CPA_DATABASE_URL": database_url, "CPA_PERSON_KEY_SECRET": SECRET,
                 "CPA_ENV": "production"})
    for name, value in overrides.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


@dataclass
class Server:
    """A running `cpa-ledger serve`; `stop()` ends it with SIGTERM (uvicorn's graceful path)."""

    database_url: str
    log_path: Path
    process: subprocess.Popen[bytes]
    port: int
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def postgres(self) -> bool:
        return self.database_url.startswith("postgresql://")

    def client(self, token: str | None = None, scope: str | None = None) -> httpx.Client:
        bearer = TOKENS[scope] if scope is not None else token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
        client = httpx.Client(base_url=self.base_url, headers=headers,
                              timeout=REQUEST_TIMEOUT_SECONDS)
        self.clients.append(client)
        return client

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def post(self, messages: list[dict[str, Any]]) -> dict[str, int]:
        """Post messages as a client would: runs of ordinary messages as arrays, each year close
        alone, waiting for its sweep to end. Counts by outcome."""
        ingest = self.client(scope="ingest")
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        run: list[dict[str, Any]] = []
        for message in [*messages, None]:
            if message is not None and message["type"] != "accrual.year.closed":
                run.append(message)
                continue
            if run:
                response = ingest.post("/v1/messages", json=run)
                assert response.status_code == 200, response.text
                for outcome, count in response.json()["counts"].items():
                    counts[outcome] += count
                run = []
            if message is not None:
                counts[self.close(ingest, message)["outcome"]] += 1
        return counts

    def close(self, client: httpx.Client, message: dict[str, Any]) -> dict[str, Any]:
        """Post a year close (202) and follow its status until the outcome is recorded."""
        response = client.post("/v1/messages", json=message)
        assert response.status_code in (200, 202), response.text
        if response.status_code == 200:
            return dict(response.json()["outcomes"][0])
        return self.follow(client, response.headers["location"])

    def follow(self, client: httpx.Client, location: str) -> dict[str, Any]:
        """Poll a close's status resource until its outcome is recorded."""
        deadline = time.monotonic() + CLOSE_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            status = client.get(location)
            if status.status_code == 200:
                return dict(status.json())
            assert status.status_code == 202, status.text
            time.sleep(CLOSE_POLL_SECONDS)
        raise AssertionError(f"close {location} did not end within {CLOSE_TIMEOUT_SECONDS} s")

    def ledger(self) -> Ledger:
        """A ledger on the server's store, with its settings (the caller closes it)."""
        return Ledger(Settings.from_environment(environment(self.database_url)))

    def project(self) -> None:
        """PostgreSQL: bring the read models to the head of the log (the `project` process's
        job in production). The embedded default computes its reads from the events."""
        if not self.postgres:
            return
        ledger = self.ledger()
        try:
            runner = Runner(ledger, live_names(ledger))
            runner.create()
            runner.catch_up()
        finally:
            ledger.close()

    def stop(self) -> int:
        for client in self.clients:
            client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_SECONDS)
                raise AssertionError("serve did not stop on SIGTERM\n"
                                     + self.log()[-LOG_TAIL_CHARS:]) from None
        return int(self.process.returncode)


def start(database_url: str, log_path: Path, *, workers: int = 1,
          **overrides: str | None) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "ledger.cli", "serve", "--port", str(port),
               "--workers", str(workers)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment(database_url, **overrides),
                                   stdout=log, stderr=subprocess.STDOUT)
    server = Server(database_url, log_path, process, port)
    _wait_until_healthy(server)
    return server


def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"serve exited with {server.process.returncode}:\n"
                               + server.log()[-LOG_TAIL_CHARS:])
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(POLL_INTERVAL_SECONDS)
    server.stop()
    raise RuntimeError("serve did not answer /healthz in time:\n" + server.log()[-LOG_TAIL_CHARS:])


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """The problem document of an error response, checked for the members every one has."""
    assert response.headers["content-type"] == "application/problem+json", response.text
    document: dict[str, Any] = response.json()
    assert document["status"] == response.status_code
    assert document["type"] == "urn:cpa-ledger:problem:" + document["reason"]
    assert document["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text and "<html" not in response.text.lower()
    return document
