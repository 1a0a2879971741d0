"""`cpa-ledger statements --year 2025 --out DIR`: one PDF per person, `DIR/<person key>.pdf`.

- Persons: every person account in the event store, in aggregate-id order, a page of ids at a
  time (one account in memory at a time), on SQLite and PostgreSQL alike. Accounts merged into
  another, persons deceased by the end of the year and accounts with nothing recorded by then
  get none. `--person ID` (repeatable) writes those persons only, their identifier printed on
  the statement.
- Files are named by person key: the store holds no identifier. The statement shows the key;
  whoever sends them matches keys to addresses (they hold the identifiers and the secret).
- Resumable: a person whose PDF exists is skipped, so a rerun after a crash or Ctrl-C goes on
  where it stopped. Each PDF is written under a temporary name (`.KEY.pdf.partial`), flushed to
  disk, then renamed: a crash never leaves a partial PDF under a final name; the temporary
  files an interrupted run left are removed when the next one starts.
- A progress bar on a terminal (not with --json), a summary at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ledger.application import Ledger
from ledger.config import ConfigurationError, Settings
from ledger.identity import normalise
from ledger.statements import content, pdf
from ledger.statements.words import words as statement_words
from projections.operations import is_postgres

PAGE_ACCOUNTS = 500
PARTIAL_SUFFIX = ".pdf.partial"
YEAR_MIN = 2015
YEAR_MAX = 2999


def run_statements(arguments: argparse.Namespace, settings: Settings) -> int:
    year: int = arguments.year
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise ConfigurationError(f"--year must be from {YEAR_MIN} to {YEAR_MAX}")
    out: Path = arguments.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(f"--out: cannot create {out}: {error.strerror}") from error
    if not out.is_dir():
        raise ConfigurationError(f"--out: {out} is not a folder")
    identifiers = [normalise(person) for person in arguments.person]
    started = time.perf_counter()
    with Ledger(settings) as ledger:
        counts = write_statements(ledger, year, out, arguments.lang, identifiers,
                                  _progress(arguments))
    report = {"year": year, "out": str(out), **counts,
              "seconds": round(time.perf_counter() - started, 2)}
    if arguments.json:
        import orjson

        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for name, value in report.items():
            print(f"{name}: {value}")
    return 0


def write_statements(ledger: Ledger, year: int, out: Path, language: str,
                     identifiers: list[str], progress: Any = None) -> dict[str, int]:
    """Write the statements missing from `out`; counts of written, already_written and
    not_concerned persons."""
    remove_partials(out)
    reader = content.KeyedReader(ledger)
    words = statement_words(language)
    issued = dt.date.today()
    counts: Counter[str] = Counter({"written": 0, "already_written": 0, "not_concerned": 0})
    if identifiers:
        persons: Iterator[tuple[str, str | None]] = (
            (ledger.person_key(identifier), identifier) for identifier in identifiers)
        total = len(identifiers)
    else:
        persons = ((key, None) for key in person_keys(ledger, reader))
        total = count_accounts(ledger)
    if progress is not None:
        progress.reset(total=total)
    for key, identifier in persons:
        target = out / f"{key}.pdf"
        if target.exists():
            counts["already_written"] += 1
        elif not content.concerned(reader, key, year):
            counts["not_concerned"] += 1
        else:
            statement = content.build(reader, key, year, words, identifier)
            write_atomically(target, pdf.render(statement, words, issued))
            counts["written"] += 1
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.close()
    return dict(counts)


def write_atomically(target: Path, data: bytes) -> None:
    partial = target.with_name(f".{target.stem}{PARTIAL_SUFFIX}")
    with partial.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, target)


def remove_partials(out: Path) -> None:
    for partial in out.glob(f".*{PARTIAL_SUFFIX}"):
        partial.unlink(missing_ok=True)


# Enumerating persons.

def person_keys(ledger: Ledger, reader: content.KeyedReader) -> Iterator[str]:
    """The person key of every person account, a page of aggregate ids at a time (other
    aggregates, such as the closing calendar, are passed over)."""
    after: str | uuid.UUID = "" if not is_postgres(ledger) else uuid.UUID(int=0)
    while True:
        page = _originators(ledger, after, PAGE_ACCOUNTS)
        for originator in page:
            account = reader.account(originator)
            if account is not None:
                reader.remember(account)
                yield account.person_key
        if len(page) < PAGE_ACCOUNTS:
            return
        after = page[-1]


def count_accounts(ledger: Ledger) -> int:
    recorder: Any = ledger.app.recorder
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(_statement(ledger, "SELECT COUNT(DISTINCT originator_id) AS n FROM {}"))
        row = cursor.fetchone()
    # The closing calendar is an aggregate too: one fewer, at most (a bar's total).
    return max(0, int(row["n"]) - 1)


def _originators(ledger: Ledger, after: Any, limit: int) -> list[Any]:
    recorder: Any = ledger.app.recorder
    mark = "%s" if is_postgres(ledger) else "?"
    statement = _statement(ledger, "SELECT DISTINCT originator_id FROM {} WHERE originator_id"
                                   f" > {mark} ORDER BY originator_id LIMIT {mark}")
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, (after, limit))
        rows = cursor.fetchall()
    return [_uuid(row["originator_id"]) for row in rows]


def _statement(ledger: Ledger, text: str) -> Any:
    recorder: Any = ledger.app.recorder
    if is_postgres(ledger):
        from psycopg.sql import SQL, Identifier

        return SQL(text).format(Identifier(recorder.datastore.schema,
                                           recorder.events_table_name))
    return text.format(recorder.events_table_name)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _progress(arguments: argparse.Namespace) -> Any:
    if arguments.json or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=0, unit="person", file=sys.stderr, leave=False, desc="statements")
