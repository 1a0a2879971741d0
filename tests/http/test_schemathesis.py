"""Schemathesis over /openapi.json against a running service on PostgreSQL: no 5xx, and every
status, content type, header and body as the document says. Bounded: a fixed seed and a few
examples per operation, so the run stays well under two minutes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http import server as servers
from tests.http.conftest import fresh_database_url
from tests.http.feeds import career, closes
from tests.http.server import Server
from tests.support import Feed

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")
EXAMPLES_PER_OPERATION = 15  # per operation: sized for the ten-minute suite
SEED = 20_251_128
RUN_TIMEOUT_SECONDS = 300
# One worker: with two, Python 3.11's ast.parse, which Hypothesis calls to describe filtered
# strategies, can race between the threads ("SystemError: AST constructor recursion depth
# mismatch" in the coverage phase: a crash of the tool, not a finding).
WORKERS = 1
OUTPUT_TAIL_CHARS = 6_000

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def postgres_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                    tokens_file: Path) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("schemathesis")
    url = fresh_database_url(request, folder, "postgres")
    running = servers.start(url, folder / "serve.log", CPA_API_TOKENS_FILE=str(tokens_file))
    yield running
    running.stop()


def _schemathesis() -> list[str]:
    found = shutil.which("schemathesis", path=os.path.dirname(sys.executable))
    return [found] if found else [sys.executable, "-m", "schemathesis.cli"]


def test_responses_match_the_document(postgres_server: Server, tmp_path: Path) -> None:
    feed = Feed("st")
    postgres_server.post([*career(feed, "A", range(2019, 2023)), *closes(feed, range(2019, 2022))])
    postgres_server.project()
    command = [*_schemathesis(), "run", postgres_server.base_url + "/openapi.json",
               "--checks", ",".join(CHECKS), "--max-examples", str(EXAMPLES_PER_OPERATION),
               "--seed", str(SEED), "--no-shrink", "--workers", str(WORKERS),
               "--header", "Authorization: Bearer " + servers.TOKENS["admin"],
               "--report", "junit", "--report-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                            timeout=RUN_TIMEOUT_SECONDS, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-OUTPUT_TAIL_CHARS:]
