"""The command line, end to end on an SQLite file (interfaces.md §1)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from ledger.cli import main
from tests.support import Feed, identifier


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("CPA_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("CPA_PERSON_KEY_SECRET", "test-secret")
    return path


def _feed_file(tmp_path: Path) -> Path:
    feed = Feed(prefix="cli-")
    messages = [feed.employment(2019, "600"), feed.close(2019, "2020-04-15")]
    lines = [orjson.dumps(m) for m in messages] + [b"not json"]
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_ingest_then_read(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _feed_file(tmp_path)
    assert main(["ingest", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"accepted": 2, "duplicate": 0, "rejected": 1}
    assert main(["ingest", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "accepted=0 duplicate=3 rejected=0"
    person = identifier("A")
    assert main(["balance", person, "--as-of", "2020-06-30", "--json"]) == 0
    balance = json.loads(capsys.readouterr().out)
    assert balance["accounts"]["cpf"] == {"unit": "EUR", "balance": "186.69",
                                          "ceiling": "5000.00"}
    assert main(["statement", person, "--json"]) == 0
    assert [line["amount"] for line in json.loads(capsys.readouterr().out)] == ["186.69"]
    assert main(["explain", person, "--year", "2019", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["result"]["ratio"] == "0.3734"
    assert main(["message", "file:" + str(path), "line:3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reason"] == "malformed"


def test_known_at_sees_the_past(database: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["balance", identifier("A"), "--as-of", "2020-06-30",
                 "--known-at", "2000-01-01T00:00:00+00:00", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accounts"]["cpf"]["balance"] == "0.00"
    main(["ingest", str(_feed_file(tmp_path))])
    capsys.readouterr()
    assert main(["balance", identifier("A"), "--as-of", "2020-06-30",
                 "--known-at", "2000-01-01T00:00:00+00:00", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["accounts"]["cpf"]["balance"] == "0.00"
    assert document["known_at"] == "2000-01-01T00:00:00+00:00"


def test_unknown_person_gets_zeros(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["balance", identifier("B"), "--as-of", "2020-01-01", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "open"
    assert document["available"] == "0.00"


def test_errors_exit_non_zero_with_one_line(database: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["balance", "123"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("cpa-ledger:") and "\n" not in error
    assert main(["message", "dsn", "nope"]) == 1
    assert "no outcome" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["balance", identifier("A"), "--as-of", "2020-13-01"])
    assert exit_info.value.code == 2


def test_demo_runs_and_summarises(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--persons", "20", "--years", "2015-2020", "--seed", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["persons"] == 20
    assert report["messages"] == report["accepted"] + report["duplicate"] + report["rejected"]
    assert report["accepted"] > 0
    assert len(report["try"]) == 5 and all(len(t["person"]) == 15 for t in report["try"])


def test_demo_names_persons_to_try_with_rights(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The store holds only hashed keys: the demo says which identifiers it made."""
    assert main(["demo", "--persons", "60", "--years", "2015-2024", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    tried = out.split("persons to try", 1)[1].splitlines()[1:]
    assert len(tried) == 5
    kinds = " ".join(tried)
    assert "public agent" in kinds and "private" in kinds
    for line in tried:
        person = line.split()[0]
        assert main(["balance", person, "--as-of", "2025-06-30", "--json"]) == 0
        document = json.loads(capsys.readouterr().out)
        rights = [document["accounts"][name]["balance"] for name in ("cpf", "cpf_public")]
        assert any(value != "0.00" for value in rights), (line, document)


def test_demo_list_names_every_person_without_ingesting(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--persons", "40", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert 0 < len(listed) <= 40
    assert {p["career"] for p in listed} <= {"private", "public", "to_public", "to_private"}
    assert main(["demo", "--persons", "40", "--list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(listed)


def test_the_demo_progress_has_a_total(database: Path) -> None:
    from ledger import demo
    from ledger.application import Ledger
    from ledger.commands import run_demo_feed
    from ledger.config import Settings

    class Bar:
        done = 0

        def update(self, count: int) -> None:
            self.done += count

    plan = demo.DemoSettings(persons=15, year_from=2019, year_to=2021)
    bar = Bar()
    with Ledger(Settings.from_environment()) as ledger:
        run_demo_feed(ledger, plan, bar)
    assert bar.done == demo.progress_total(plan) == 15 * 3
