"""The command line, end to end on an SQLite file (interfaces.md §1)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import orjson
import pytest

from ledger.cli import EXIT_BROKEN_PIPE, EXIT_REJECTED, main
from ledger.ingest import content_key
from tests.support import Feed, identifier


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
    assert main(["ingest", str(path), "--json"]) == EXIT_REJECTED
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
    assert main(["message", *content_key(b"not json"), "--json"]) == 0
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


# One-line reasons, never a traceback.


def _one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    captured = capsys.readouterr()
    error = captured.err.strip()
    assert error.startswith("cpa-ledger: ") and "\n" not in error, captured.err
    assert "Traceback" not in captured.err
    for word in words:
        assert word in error, error
    return error


def test_ingest_of_a_missing_file_says_so(database: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(tmp_path / "nowhere.jsonl")]) == 1
    _one_line_error(capsys, "nowhere.jsonl", "no such file")


def test_ingest_of_a_folder_says_so(database: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(tmp_path)]) == 1
    _one_line_error(capsys, "is a folder")


def test_ingest_checks_every_file_before_recording_any(
        database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(_feed_file(tmp_path)), str(tmp_path / "missing"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {"ok": False,
                                                   "error": f"{tmp_path / 'missing'}: no such file"}
    assert main(["balance", identifier("A"), "--as-of", "2020-06-30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accounts"]["cpf"]["balance"] == "0.00"


@pytest.mark.parametrize("year", ["1990", "2014", "3000"])
def test_explain_outside_the_rulebook_is_a_usage_error(
        database: Path, year: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", identifier("A"), "--year", year])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "must be from 2015 to 2998" in error and error.count("\n") == 1, error


@pytest.mark.parametrize("persons", ["0", "-3", "many"])
def test_demo_refuses_a_wrong_number_of_persons(database: Path, persons: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--persons", persons])
    assert exit_info.value.code == 2
    assert "--persons" in capsys.readouterr().err


def test_demo_bound_is_the_generator_s() -> None:
    from ledger import cli, demo

    assert cli.DEMO_PERSONS_MAX == demo.PERSONS_MAX


def test_parts_bound_is_the_projector_s() -> None:
    from ledger import cli
    from projections import parts

    assert cli.PARTS_MAX == parts.SLOTS


@pytest.mark.parametrize("command", ["project", "rebuild"])
@pytest.mark.parametrize("part", ["0/3", "4/3", "1/65", "2", "a/b", "2/4/8"])
def test_project_refuses_a_wrong_part(database: Path, command: str, part: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--part", part])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--part" in error and "K/N" in error and error.count("\n") == 1, error


def test_project_part_needs_postgresql_like_the_whole(database: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["project", "--part", "2/4", "--until-caught-up"]) == 1
    _one_line_error(capsys, "PostgreSQL")


def test_demo_years_out_of_range_is_one_line(database: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--persons", "1", "--years", "1990-1991"]) == 1
    _one_line_error(capsys, "years")


def test_replay_into_an_existing_folder_says_so(database: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    main(["ingest", str(_feed_file(tmp_path))])
    capsys.readouterr()
    until = "2999-01-01T00:00:00+00:00"
    assert main(["replay", "--until", until, "--out", str(tmp_path / "audit")]) == 0
    capsys.readouterr()
    assert main(["replay", "--until", until, "--out", str(tmp_path / "audit")]) == 1
    _one_line_error(capsys, "exists", "--out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["replay", "--until", until, "--out", str(tmp_path / "busy")]) == 1
    _one_line_error(capsys, "not an empty folder")


def test_the_replay_store_is_read_only(database: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    feed = _feed_file(tmp_path)
    main(["ingest", str(feed)])
    capsys.readouterr()
    assert main(["replay", "--until", "2999-01-01T00:00:00+00:00", "--out",
                 str(tmp_path / "audit"), "--json"]) == 0
    url = json.loads(capsys.readouterr().out)["database_url"]
    monkeypatch.setenv("CPA_DATABASE_URL", url)
    assert main(["balance", identifier("A"), "--as-of", "2020-06-30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accounts"]["cpf"]["balance"] == "186.69"
    other = tmp_path / "other.jsonl"
    other.write_bytes(orjson.dumps(Feed(prefix="later-").employment(2021, "800")) + b"\n")
    assert main(["ingest", str(other)]) == 1
    _one_line_error(capsys, "replay", "read-only")


PIPED_COMMANDS = [
    ["statement", identifier("A")],
    ["statement", identifier("A"), "--json"],
    ["balance", identifier("A"), "--as-of", "2020-06-30"],
    ["explain", identifier("A"), "--year", "2019"],
    ["--help"],
]


@pytest.mark.parametrize("command", PIPED_COMMANDS, ids=lambda c: " ".join(c[:1] + c[2:]))
def test_output_to_a_closed_pipe_ends_quietly(database: Path, tmp_path: Path,
                                              command: list[str]) -> None:
    import os
    import shlex
    import subprocess
    import sys

    assert main(["ingest", str(_feed_file(tmp_path))]) == EXIT_REJECTED
    cli = " ".join(shlex.quote(word) for word in [sys.executable, "-m", "ledger.cli", *command])
    # `true` reads nothing and exits at once, long before Python has started and writes: the
    # write meets a closed pipe, as it does under `| head` once head has its lines.
    pipeline = f'{cli} | true; echo "${{PIPESTATUS[0]}}"'
    finished = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True,
                              env=os.environ, timeout=60, check=True)
    assert "Traceback" not in finished.stderr, finished.stderr
    assert "BrokenPipeError" not in finished.stderr, finished.stderr
    assert finished.stdout.strip() in {"0", "141"}


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("command", PIPED_COMMANDS[:-1],
                         ids=lambda c: " ".join(c[:1] + c[2:]))
def test_a_broken_pipe_is_exit_141_without_a_word(
        database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    main(["ingest", str(_feed_file(tmp_path))])
    capsys.readouterr()
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert main(command) == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


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
