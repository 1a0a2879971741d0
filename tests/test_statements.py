"""Yearly statements: one PDF per concerned person, whose text (pdftotext) carries the figures
of the balance document at 31 December; resumable, never a partial PDF; on both backends."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy.local import debian
from ledger.application import Ledger
from ledger.statements import run
from ledger.statements.words import words as statement_words
from projections.reader import Reader
from tests.backends import Ledgers
from tests.http import feeds
from tests.support import Feed, identifier, ingest

YEAR = 2025
PERSON = identifier("A")
LATE = identifier("B")  # first heard of after the year
DEAD = identifier("C")  # died before the year's end
EXPIRES = "2026-05-31"
ROOT = Path(__file__).resolve().parent.parent


def _feed() -> list[dict[str, Any]]:
    feed = Feed("st")
    return [
        feed.message("dif.registered", {"hours": "50.00", "registered_on": "2016-03-01"},
                     person=PERSON, published="2016-03-02"),
        *feeds.career(feed, PERSON, range(2023, 2026)),
        feed.employment(2024, "800", person=DEAD),
        feed.message("person.deceased", {"died_on": "2025-02-01"}, person=DEAD,
                     published="2025-02-10"),
        *feeds.closes(feed, range(2023, 2025)),
        feeds.topup(feed, PERSON, 1, "300.00", granted_on="2025-06-02", expires_on=EXPIRES),
        feeds.order(feed, PERSON, "o-2025", "200.00", "2025-09-01"),
        feed.message("training.entered", {"order_id": "o-2025", "entered_on": "2025-10-01"},
                     person=PERSON, published="2025-10-01"),
        feed.employment(2026, "800", person=LATE),
    ]


@pytest.fixture(scope="module")
def ledger(ledgers: Ledgers) -> Any:
    made = ledgers.new()
    results = ingest(made, _feed())
    assert [r.outcome for r in results if r.outcome != "accepted"] == [], results
    yield made
    made.close()


def _text(path: Path) -> str:
    pdftotext = debian.ensure("pdftotext")
    text = subprocess.run([pdftotext, "-layout", str(path), "-"], capture_output=True,
                          check=True, text=True).stdout
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


def _shown(text: str) -> str:
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


def test_one_statement_per_concerned_person_with_the_balance_figures(
        ledger: Ledger, tmp_path: Path) -> None:
    counts = run.write_statements(ledger, YEAR, tmp_path, "fr", [])
    key = ledger.person_key(PERSON)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{key}.pdf"]
    assert counts == {"written": 1, "already_written": 0, "not_concerned": 2}
    text = _text(tmp_path / f"{key}.pdf")
    words = statement_words("fr")
    balance = Reader(ledger).balance(PERSON, dt.date(YEAR, 12, 31))
    assert "Relevé annuel de vos droits 2025" in text and key in text
    assert "31 décembre 2025" in text  # accents, embedded font
    for name, account in balance["accounts"].items():
        shown = words.amount(account["balance"], account["unit"])
        assert _shown(f"{words(f'bucket_{name}')} {shown}") in text, name
    unit = balance["accounts"]["cpf"]["unit"]
    assert _shown(f"{words('available')} {words.amount(balance['available'], unit)}") in text
    for row in balance["pending"]:
        assert _shown(words.amount(row["cpf"], row.get("unit", unit))) in text
    lines = [line for line in Reader(ledger).statement(PERSON, dt.date(YEAR, 1, 1),
                                                       dt.date(YEAR, 12, 31))
             if line["account"] != "held"]
    labels = {"accrual": "Acquisition de l\u2019année 2024 CPF",
              "topup_grant": "Abondement g1 Abondements",
              "training_debit": "Formation o-2025 CPF"}
    assert sorted(line["kind"] for line in lines) == sorted(labels)
    for line in lines:
        amount = words.amount(line["amount"], line["unit"])
        assert _shown(f"{labels[line['kind']]} {amount}") in text, line
    assert "expire le 31 mai 2026" in text
    assert "Vos heures DIF transférées font partie de vos droits" in text


def test_a_person_given_by_identifier_shows_it(ledger: Ledger, tmp_path: Path) -> None:
    run.write_statements(ledger, YEAR, tmp_path, "en", [PERSON])
    text = _text(tmp_path / f"{ledger.person_key(PERSON)}.pdf")
    assert f"Identifier (NIR or NIA): {PERSON}" in text
    assert "Yearly statement of your rights 2025" in text


def test_a_rerun_skips_what_is_written_and_never_leaves_a_partial_pdf(
        ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = ledger.person_key(PERSON)

    def crash(source: object, target: object) -> None:
        raise KeyboardInterrupt  # killed between writing the file and naming it

    with monkeypatch.context() as patched:
        patched.setattr("ledger.statements.run.os.replace", crash)
        with pytest.raises(KeyboardInterrupt):
            run.write_statements(ledger, YEAR, tmp_path, "fr", [])
    assert [p.name for p in tmp_path.iterdir()] == [f".{key}.pdf.partial"]
    assert run.write_statements(ledger, YEAR, tmp_path, "fr", [])["written"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [f"{key}.pdf"]
    again = run.write_statements(ledger, YEAR, tmp_path, "fr", [])
    assert again == {"written": 0, "already_written": 1, "not_concerned": 2}


def test_the_command(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'ledger.db'}"
    environment = {"CPA_DATABASE_URL": database, "PATH": "/usr/bin:/bin",
                   "CPA_PERSON_KEY_SECRET": "statements-test-secret-0123456789"}
    feed = tmp_path / "feed.jsonl"
    import orjson

    feed.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m in _feed()))

    def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ledger.cli", *arguments], cwd=ROOT,
                              env=environment, capture_output=True, text=True, check=False)

    assert cli("ingest", str(feed)).returncode == 0
    out = tmp_path / "statements"
    done = cli("statements", "--year", str(YEAR), "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["written"] == 1
    assert len(list(out.glob("*.pdf"))) == 1
    refused = cli("statements", "--year", "1990", "--out", str(out))
    assert refused.returncode == 1
    assert refused.stderr.startswith("cpa-ledger: --year") and "Traceback" not in refused.stderr
