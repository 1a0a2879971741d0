"""Test session set-up: the real servers plugin and the hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.services", "tests.backends"]

# CI runs the default profile (sized so that the whole suite stays under ten minutes on two
# cores: each property runs on both backends); `HYPOTHESIS_PROFILE=thorough` explores more.
settings.register_profile(
    "default", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's store for one test: an SQLite file named by the environment, as a user sets it."""
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("CPA_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("CPA_PERSON_KEY_SECRET", "test-secret")
    return path
