"""A store recognises the person-key secret it was written with and refuses any other, with a
one-line reason; production requires a secret of real strength. On both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.application import Ledger
from ledger.cli import main
from ledger.config import ConfigurationError, Settings
from ledger.store_identity import ReadOnlyStore, SecretMismatch, mark_read_only
from tests.backends import Ledgers
from tests.support import Feed, identifier, ingest

STRONG = "0f3c1e9a7b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e"


def _store(ledgers: Ledgers, tmp_path: Path) -> str:
    """A store two ledgers can open: a file on SQLite, a new schema on PostgreSQL."""
    if ledgers.database_url is None:
        return f"sqlite:///{tmp_path / 'store.db'}"
    import uuid

    import psycopg

    schema = f"identity_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ledgers.database_url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    return f"{ledgers.database_url}?schema={schema}"


def _open(url: str, secret: str) -> Ledger:
    return Ledger(Settings.from_environment({"CPA_DATABASE_URL": url,
                                             "CPA_PERSON_KEY_SECRET": secret}))


def test_the_same_secret_opens_the_store_again(ledgers: Ledgers, tmp_path: Path) -> None:
    url = _store(ledgers, tmp_path)
    with _open(url, "first-secret") as ledger:
        ingest(ledger, [Feed().employment(2019, "800")])
    with _open(url, "first-secret") as ledger:
        assert ledger.ingest([]) == []


def test_another_secret_is_refused_with_one_line(ledgers: Ledgers, tmp_path: Path) -> None:
    url = _store(ledgers, tmp_path)
    with _open(url, "first-secret") as ledger:
        ingest(ledger, [Feed().employment(2019, "800")])
    with pytest.raises(SecretMismatch) as refused:
        _open(url, "second-secret")
    assert "CPA_PERSON_KEY_SECRET" in str(refused.value) and "\n" not in str(refused.value)
    assert isinstance(refused.value, ConfigurationError)


def test_the_development_secret_is_another_secret(ledgers: Ledgers, tmp_path: Path) -> None:
    url = _store(ledgers, tmp_path)
    with _open(url, "first-secret"):
        pass
    with pytest.raises(SecretMismatch):
        Ledger(Settings.from_environment({"CPA_DATABASE_URL": url}))


def test_a_read_only_store_refuses_writes(ledgers: Ledgers, tmp_path: Path) -> None:
    url = _store(ledgers, tmp_path)
    with _open(url, "s") as ledger:
        mark_read_only(ledger.app.recorder.datastore,  # type: ignore[attr-defined]
                       "a replay: read-only")
    with _open(url, "s") as ledger, pytest.raises(ReadOnlyStore, match="a replay: read-only"):
        ingest(ledger, [Feed().employment(2019, "800")])


def test_cli_with_a_wrong_secret_exits_non_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CPA_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("CPA_PERSON_KEY_SECRET", "the-right-one")
    assert main(["balance", identifier("A")]) == 0
    capsys.readouterr()
    monkeypatch.setenv("CPA_PERSON_KEY_SECRET", "a-wrong-one")
    assert main(["balance", identifier("A"), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "CPA_PERSON_KEY_SECRET" in captured.err
    assert '"ok": false' in captured.out


def test_serve_refuses_to_start_with_a_wrong_secret(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    with _open(url, "the-right-one"):
        pass
    environment = {**os.environ, "CPA_DATABASE_URL": url, "CPA_PERSON_KEY_SECRET": "a-wrong-one",
                   "CPA_ENV": "development"}
    finished = subprocess.run([sys.executable, "-m", "ledger.cli", "serve", "--port", "1"],
                              env=environment, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines()[-1].startswith("cpa-ledger: CPA_PERSON_KEY_SECRET")
    assert "Traceback" not in finished.stderr


@pytest.mark.parametrize("secret", [None, "", "x", "short-but-varied-123",
                                    "a" * 64, "abababababababababababababababab"])
def test_production_refuses_a_weak_secret(secret: str | None) -> None:
    environment = {"CPA_ENV": "production"}
    if secret is not None:
        environment["CPA_PERSON_KEY_SECRET"] = secret
    with pytest.raises(ConfigurationError, match="CPA_PERSON_KEY_SECRET"):
        Settings.from_environment(environment)


def test_production_refuses_the_development_secret() -> None:
    from ledger.config import DEVELOPMENT_SECRET

    with pytest.raises(ConfigurationError, match="development secret"):
        Settings.from_environment({"CPA_ENV": "production",
                                   "CPA_PERSON_KEY_SECRET": DEVELOPMENT_SECRET})


def test_production_accepts_a_generated_secret() -> None:
    settings = Settings.from_environment({"CPA_ENV": "production",
                                          "CPA_PERSON_KEY_SECRET": STRONG})
    assert settings.person_key_secret == STRONG.encode()


def test_development_accepts_any_secret() -> None:
    assert Settings.from_environment({"CPA_PERSON_KEY_SECRET": "x"}).person_key_secret == b"x"


def test_http_refuses_writes_to_a_replay(tmp_path: Path) -> None:
    import asyncio
    import datetime as dt

    import httpx

    from ledger.http.app import create_app
    from ledger.http.service import LedgerService
    from ledger.http.settings import HttpSettings
    from projections.operations import replay

    with _open(f"sqlite:///{tmp_path / 'live.db'}", "s") as live:
        ingest(live, [Feed().employment(2019, "800")])
        result = replay(live, dt.datetime(2999, 1, 1, tzinfo=dt.UTC), str(tmp_path / "audit"))
    settings = HttpSettings.from_environment({"CPA_DATABASE_URL": result.database_url,
                                              "CPA_PERSON_KEY_SECRET": "s"})
    service = LedgerService.build(settings)

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(settings, service))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/v1/messages", json=Feed("x").employment(2020, "800"))

    try:
        response = asyncio.run(post())
    finally:
        service.close()
    assert response.status_code == 409
    assert response.json()["reason"] == "read_only_store"
    assert "replay" in response.json()["detail"]


def test_consume_refuses_a_replay_before_joining_the_group(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import datetime as dt

    from projections.operations import replay

    with _open(f"sqlite:///{tmp_path / 'live.db'}", "s") as live:
        result = replay(live, dt.datetime(2999, 1, 1, tzinfo=dt.UTC), str(tmp_path / "audit"))
    monkeypatch.setenv("CPA_DATABASE_URL", result.database_url)
    monkeypatch.setenv("CPA_PERSON_KEY_SECRET", "s")
    monkeypatch.setenv("CPA_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # never reached
    assert main(["consume"]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("cpa-ledger: this store is a replay") and "read-only" in error
