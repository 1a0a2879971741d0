"""`cpa-ledger serve`: the HTTP API under uvicorn, with `--workers` processes.

Every worker builds the application with the same factory (`ledger.http.app:create_app`), which
reads the environment once. The settings and the tokens file are also checked here first, so a
mistake stops `serve` with a one-line reason before any worker starts. SIGTERM or Ctrl-C: uvicorn
stops accepting connections, lets requests in flight finish (up to
GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS), then each worker closes its ledger.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile

import uvicorn

from ledger import shards
from ledger.cluster import Cluster
from ledger.config import ConfigurationError, Settings
from ledger.http import limits
from ledger.http.auth import Authenticator
from ledger.http.metrics import MULTIPROCESS_VARIABLE
from ledger.http.observability import log_config
from ledger.http.settings import HttpSettings

FACTORY = "ledger.http.app:create_app"


def run_serve(arguments: argparse.Namespace, settings: Settings) -> int:
    http_settings = HttpSettings.from_environment(ledger=settings)
    Authenticator.from_settings(settings.api_tokens_file, http_settings.development)
    if not 1 <= arguments.workers <= limits.WORKERS_MAX:
        raise ConfigurationError(f"--workers must be from 1 to {limits.WORKERS_MAX}")
    settings.warn_if_insecure()
    # Every shard's store accepts this secret and URL, or serve stops here.
    with Cluster.open(settings, shards.load(settings.database_url)):
        pass
    metrics_directory = _metrics_directory(arguments.workers)
    try:
        uvicorn.run(
            FACTORY, factory=True, host=arguments.host, port=arguments.port,
            workers=arguments.workers, log_config=log_config(), access_log=False,
            timeout_graceful_shutdown=limits.GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS,
            timeout_keep_alive=limits.KEEP_ALIVE_TIMEOUT_SECONDS, server_header=False,
            proxy_headers=False)
    finally:
        if metrics_directory is not None:
            shutil.rmtree(metrics_directory, ignore_errors=True)
    return 0


def _metrics_directory(workers: int) -> str | None:
    """Several workers share their metrics through files in a fresh folder (made here, before
    they start, and removed when serve stops); one worker keeps them in memory."""
    if workers == 1 or os.environ.get(MULTIPROCESS_VARIABLE):
        return None
    directory = tempfile.mkdtemp(prefix="cpa-ledger-metrics-")
    os.environ[MULTIPROCESS_VARIABLE] = directory
    return directory
