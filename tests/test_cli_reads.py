"""The command line as a person reads it: ingest reports and exit statuses, verify on the
embedded default, quote, and text outputs with units, headers and no Python reprs."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from ledger.cli import EXIT_REJECTED, build_parser, main
from ledger.ingest import content_key
from tests.support import Feed, identifier

PERSON = identifier("A")


def _write(path: Path, messages: list[Any], extra: list[bytes] = ()) -> Path:  # type: ignore[assignment]
    path.write_bytes(b"\n".join([orjson.dumps(m) for m in messages] + list(extra)) + b"\n")
    return path


def _career(tmp_path: Path) -> Path:
    """Years 2017-2019 at about half time, 2017 and 2019 closed; an order in 2020 entered."""
    feed = Feed(prefix="career-")
    messages = [feed.employment(2017, "800"), feed.close(2017, "2018-04-15"),
                feed.employment(2018, "800"), feed.employment(2019, "800"),
                feed.close(2018, "2019-04-15"), feed.close(2019, "2020-04-15"),
                feed.message("training.ordered", {
                    "order_id": "order-7", "certification": "RNCP1", "provider": "p1",
                    "price_eur": "100.00", "ordered_on": "2020-06-01"}, published="2020-06-01"),
                feed.message("training.entered", {"order_id": "order-7",
                                                  "entered_on": "2020-07-01"},
                             published="2020-07-01")]
    return _write(tmp_path / "career.jsonl", messages)


def _run(capsys: pytest.CaptureFixture[str], *arguments: str, status: int = 0) -> str:
    assert main(list(arguments)) == status, capsys.readouterr()
    return capsys.readouterr().out


# Ingest: a report per line, and an exit status for "some were rejected".


def test_ingest_report_has_one_line_per_input_line(database: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    feed = Feed(prefix="r-")
    path = _write(tmp_path / "feed.jsonl", [feed.employment(2019, "800"),
                                            {**feed.employment(2019, "10"), "version": 9}],
                  [b"", b"{not json"])
    report = tmp_path / "report.jsonl"
    _run(capsys, "ingest", str(path), "--report", str(report), status=EXIT_REJECTED)
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(row["line"], row["outcome"]) for row in rows] == [
        (1, "accepted"), (2, "rejected"), (4, "rejected")]
    assert rows[1]["reason"] == "unsupported_version" and rows[1]["detail"]
    assert rows[2]["reason"] == "malformed"
    assert {row["file"] for row in rows} == {str(path)}
    assert (rows[2]["source"], rows[2]["message_id"]) == content_key(b"{not json")


def test_ingest_report_to_stdout(database: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "feed.jsonl", [Feed().employment(2019, "800")])
    out = _run(capsys, "ingest", str(path), "--report", "-", "--json")
    first = out.splitlines()[0]
    assert json.loads(first)["outcome"] == "accepted"


def test_ingest_exit_status_tells_rejections_from_success(
        database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path / "good.jsonl", [Feed(prefix="g-").employment(2019, "800")])
    bad = _write(tmp_path / "bad.jsonl", [], [b"[]"])
    _run(capsys, "ingest", str(good))
    _run(capsys, "ingest", str(good))  # duplicates are not rejections
    _run(capsys, "ingest", str(bad), status=EXIT_REJECTED)
    help_text = " ".join(build_parser().format_help().split())
    assert "3 when `ingest` recorded some messages as rejected" in help_text


def test_malformed_lines_are_keyed_by_content_not_by_path(
        database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "feed.jsonl", [Feed().employment(2019, "800")],
                  [b"not json", b"{\"also\": \"wrong\"}"])
    monkeypatch.chdir(tmp_path)
    first = json.loads(_run(capsys, "ingest", "feed.jsonl", "--json", status=EXIT_REJECTED))
    assert first == {"accepted": 1, "duplicate": 0, "rejected": 2}
    again = json.loads(_run(capsys, "ingest", str(path.resolve()), "--json"))
    assert again == {"accepted": 0, "duplicate": 3, "rejected": 0}
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(path.read_bytes())
    assert json.loads(_run(capsys, "ingest", str(copy), "--json"))["duplicate"] == 3
    outcome = json.loads(_run(capsys, "message", *content_key(b"not json"), "--json"))
    assert outcome["reason"] == "malformed"
    assert len(outcome["repeats"]) == 2


# Verify on the embedded default.


def test_verify_on_the_embedded_default(database: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "ingest", str(_career(tmp_path)))
    document = json.loads(_run(capsys, "verify", "--json"))
    assert document["ok"] is True and document["checked_events"] > 0
    assert re.fullmatch(r"[0-9a-f]{64}", document["head_link"])
    text = _run(capsys, "verify")
    assert text.startswith(f"verified {document['checked_events']} events; chain head ")


def test_verify_names_an_event_that_does_not_decode(database: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    _run(capsys, "ingest", str(_career(tmp_path)))
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE stored_events SET state = x'00ff' WHERE rowid = 2")
    document = json.loads(_run(capsys, "verify", "--json", status=1))
    assert document["ok"] is False and "do not decode" in document["first_difference"]


def test_json_errors_are_json(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["message", "dsn", "nope", "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"ok": False,
                                        "error": "no outcome recorded for dsn/nope"}


# Text outputs.


def test_balance_text_has_units_and_the_known_at_time(database: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "f.jsonl", [Feed().employment(2018, "800")])
    _run(capsys, "ingest", str(tmp_path / "f.jsonl"))
    known_at = "2999-01-01T10:30:00+00:00"
    text = _run(capsys, "balance", PERSON, "--as-of", "2018-06-30", "--known-at", known_at)
    assert f"as known at {known_at}" in text.splitlines()[0]
    assert re.search(r"pending 2018: cpf \d+\.\d\d hours", text), text
    for name in ("held", "available"):
        assert re.search(rf"{name}\s+\d+\.\d\d\s+hours", text), text
    euros = _run(capsys, "balance", PERSON, "--as-of", "2019-06-30")
    assert "everything known" in euros.splitlines()[0]
    assert re.search(r"pending 2018: cpf \d+\.\d\d EUR", euros), euros


def test_statement_has_a_header_running_balances_and_order_ids(
        database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "ingest", str(_career(tmp_path)))
    text = _run(capsys, "statement", PERSON).splitlines()
    assert text[0].startswith(f"Statement of {PERSON}, ")
    assert text[1].split()[:6] == ["date", "account", "amount", "unit", "balance", "kind"]
    lines = json.loads(_run(capsys, "statement", PERSON, "--json"))
    assert len(text) == len(lines) + 2
    running: dict[tuple[str, str], float] = {}
    for line, row in zip(lines, text[2:], strict=True):
        key = (line["account"], line["unit"])
        running[key] = round(running.get(key, 0.0) + float(line["amount"]), 2)
        assert row.split()[4] == f"{running[key]:.2f}", row
        if "order_id" in line:
            assert f"order {line['order_id']}" in row
    assert any("order order-7" in row and "hold" in row for row in text)
    assert any("order order-7" in row and "training_debit" in row for row in text)


def test_explain_of_a_closed_year_without_facts(database: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    feed = Feed()
    _write(tmp_path / "f.jsonl", [feed.employment(2019, "800"), feed.close(2018, "2019-04-15")])
    _run(capsys, "ingest", str(tmp_path / "f.jsonl"))
    document = json.loads(_run(capsys, "explain", PERSON, "--year", "2018", "--json"))
    assert document["status"] == "closed"
    assert document["result"]["credited"] == "0.00"
    text = _run(capsys, "explain", PERSON, "--year", "2018")
    assert "not closed yet" not in text and "closed" in text.splitlines()[0]
    assert "no facts" in text
    pending = _run(capsys, "explain", PERSON, "--year", "2019")
    assert "pending" in pending.splitlines()[0]


REPR = re.compile(r"\[\s*'|\{\s*'|'\s*\]|'\s*:\s*'|\bNone\b|\bTrue\b|\bFalse\b")


def test_text_outputs_print_no_python_reprs(database: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "ingest", str(_career(tmp_path)))
    outputs = [_run(capsys, "explain", PERSON, "--year", str(year)) for year in (2017, 2019)]
    outputs.append(_run(capsys, "statement", PERSON))
    outputs.append(_run(capsys, "balance", PERSON, "--as-of", "2020-06-30"))
    outputs.append(_run(capsys, "message", "operator", "career-2"))
    for text in outputs:
        assert not REPR.search(text), text
    assert "facts: 1 fact: " in outputs[0]


def test_rejection_details_name_no_regex(database: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    message = Feed().employment(2019, "800")
    message["data"]["employer"] = "ACME"
    message["message_id"] = "bad-employer"
    _run(capsys, "ingest", str(_write(tmp_path / "f.jsonl", [message])), status=EXIT_REJECTED)
    text = _run(capsys, "message", "dsn", "bad-employer")
    assert "^" not in text and "{" not in text and "pattern" not in text, text
    assert "14-digit" in text


def test_plurals(database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ledger.texts import plural

    assert plural(1, "person") == "1 person" and plural(2, "person") == "2 persons"
    assert plural(0, "event") == "0 events"
    _write(tmp_path / "one.jsonl", [Feed().employment(2019, "800")])
    replayed = _run(capsys, "replay", "--until", "2999-01-01T00:00:00Z", "--out",
                    str(tmp_path / "audit"))
    assert replayed.startswith("replayed 0 events and 0 outcomes known at")
    _run(capsys, "ingest", str(tmp_path / "one.jsonl"))
    replayed = _run(capsys, "replay", "--until", "2999-01-01T00:00:00Z", "--out",
                    str(tmp_path / "audit2"))
    assert re.match(r"replayed \d+ events and 1 outcome known at", replayed), replayed
    feed = Feed(prefix="one-")
    _write(tmp_path / "close.jsonl", [feed.employment(2019, "800"), feed.close(2019)])
    _run(capsys, "ingest", str(tmp_path / "close.jsonl"))
    assert "1 person settled" in _run(capsys, "message", "operator", "one-2")


# Quote.


def test_quote_matches_the_order_it_would_be(database: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "ingest", str(_career(tmp_path)))
    document = json.loads(_run(capsys, "quote", PERSON, "--price-eur", "100", "--on",
                               "2021-01-10", "--certification", "RNCP1", "--json"))
    assert document["unit"] == "EUR" and document["funded"] == "100.00"
    text = _run(capsys, "quote", PERSON, "--price-eur", "100", "--on", "2021-01-10")
    assert "funded" in text and "100.00 EUR" in text
    balance = json.loads(_run(capsys, "balance", PERSON, "--json"))
    assert balance["held"] == "0.00"  # the quote recorded nothing


def test_quote_refusals_are_one_line(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quote", PERSON, "--price-eur", "100", "--on", "2021-01-10"]) == 1
    assert "insufficient_rights" in capsys.readouterr().err
    assert main(["quote", PERSON, "--price-eur", "1,5"]) == 1
    assert "price_eur" in capsys.readouterr().err


# Help, version, dates.


def _subcommands() -> dict[str, Any]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return dict(action.choices)  # type: ignore[arg-type]


def test_every_argument_has_a_description() -> None:
    for name, command in _subcommands().items():
        for action in command._actions:
            if action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}"


def test_optional_arguments_say_their_default() -> None:
    for name, command in _subcommands().items():
        for action in command._actions:
            if not action.option_strings or action.dest in ("help", "json") or action.required:
                continue
            if action.const is True:  # a flag: off unless given
                continue
            assert "default" in (action.help or ""), f"{name} {action.option_strings}"


def test_help_cites_no_internal_document() -> None:
    texts = [build_parser().format_help()]
    texts += [command.format_help() for command in _subcommands().values()]
    for text in texts:
        assert "§" not in text and ".md" not in text and "interfaces" not in text, text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert re.fullmatch(r"cpa-ledger \S+\n", capsys.readouterr().out)


@pytest.mark.parametrize("arguments", [
    ["balance", PERSON, "--as-of", "1800-01-01"],
    ["balance", PERSON, "--as-of", "3000-01-01"],
    ["balance", PERSON, "--known-at", "1899-12-31T23:00:00+00:00"],
    ["statement", PERSON, "--from", "0001-01-01"],
    ["quote", PERSON, "--price-eur", "1", "--on", "1800-01-01"],
])
def test_dates_are_limited_to_1900_2999(arguments: list[str],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert "1900-01-01 and 2999-12-31" in capsys.readouterr().err


def test_dates_at_the_limits_are_accepted(database: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    for day in ("1900-01-01", "2999-12-31"):
        document = json.loads(_run(capsys, "balance", PERSON, "--as-of", day, "--json"))
        assert document["as_of"] == day


def test_demo_then_known_at_now_is_not_zero(database: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The README's --known-at example (`--known-at "$(date -Ins)"` after the demo): the demo
    is recorded when it runs, so a time after the run sees it all."""
    _run(capsys, "demo", "--persons", "5", "--years", "2015-2020", "--json")
    known_at = dt.datetime.now(dt.UTC)
    persons = _demo_persons(5)
    figures = [json.loads(_run(capsys, "balance", person, "--as-of", "2020-06-30",
                               "--known-at", known_at.isoformat(), "--json"))
               for person in persons]
    assert any(document["available"] != "0.00" for document in figures)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert '--known-at "$(date -Ins)"' in readme


def _demo_persons(count: int) -> list[str]:
    from ledger import demo

    persons = {m["person"] for m in demo.generate(demo.DemoSettings(
        persons=count, year_from=2015, year_to=2020)) if "person" in m}
    return sorted(persons)


def test_cli_quote_equals_the_http_quote(database: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    import httpx

    from ledger.http.app import create_app
    from ledger.http.service import LedgerService
    from ledger.http.settings import HttpSettings

    _run(capsys, "ingest", str(_career(tmp_path)))
    arguments = {"price_eur": "250.50", "certification": "RNCP1", "on": "2021-03-01"}
    cli = json.loads(_run(capsys, "quote", PERSON, "--price-eur", arguments["price_eur"],
                          "--certification", arguments["certification"], "--on",
                          arguments["on"], "--json"))
    settings = HttpSettings.from_environment()
    service = LedgerService.build(settings)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(settings, service))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(f"/v1/persons/{PERSON}/quote", params=arguments)

    try:
        response = asyncio.run(get())
    finally:
        service.close()
    assert response.status_code == 200, response.text
    assert response.json() == cli
