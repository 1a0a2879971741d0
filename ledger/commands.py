"""The CLI commands: each builds what it needs from the settings (the composition root)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ledger import ingest
from ledger.application import Ledger
from ledger.cli import EXIT_FAILURE, print_json
from ledger.config import ConfigurationError, Settings
from projections.reader import Reader, UnknownMessage


def _reader(ledger: Ledger) -> Any:
    """In-process projections on the embedded default; the read-model tables on PostgreSQL."""
    from projections.operations import is_postgres

    if is_postgres(ledger):
        from projections.tables import TableReader

        return TableReader(ledger)
    return Reader(ledger)

OUTCOMES = ("accepted", "duplicate", "rejected")


def _interactive(arguments: argparse.Namespace) -> bool:
    return sys.stderr.isatty() and not getattr(arguments, "json", False)


def _progress(arguments: argparse.Namespace, total: int | None, unit: str) -> Any:
    if not _interactive(arguments):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, file=sys.stderr, leave=False)


def run_ingest(arguments: argparse.Namespace, settings: Settings) -> int:
    settings.warn_if_insecure()
    counts: Counter[str] = Counter()
    with Ledger(settings) as ledger:
        for name in arguments.files:
            size = None if name == "-" else Path(name).stat().st_size
            progress = _progress(arguments, size, "B")
            with ingest.open_input(name) as stream:
                counts += ingest.ingest_lines(ledger, ingest.parse_lines(name, stream), progress)
            if progress is not None:
                progress.close()
    summary = {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}
    if arguments.json:
        print_json(summary)
    else:
        print(" ".join(f"{outcome}={count}" for outcome, count in summary.items()))
    return 0


def run_balance(arguments: argparse.Namespace, settings: Settings) -> int:
    as_of = arguments.as_of or dt.date.today()
    with Ledger(settings) as ledger:
        document = _reader(ledger).balance(arguments.person, as_of, arguments.known_at)
    if arguments.json:
        print_json(document)
    else:
        _print_balance(document)
    return 0


def _print_balance(document: dict[str, Any]) -> None:
    print(f"{document['person']} as of {document['as_of']}: {document['status']}"
          + (" (in arrears)" if document["in_arrears"] else ""))
    for name, account in document["accounts"].items():
        ceiling = f" / ceiling {account['ceiling']}" if "ceiling" in account else ""
        print(f"  {name:<7} {account['balance']:>10} {account['unit']}{ceiling}")
    print(f"  held    {document['held']:>10}\n  available {document['available']:>8}")
    for pending in document["pending"]:
        print(f"  pending {pending['year']}: cpf {pending['cpf']}")
    for pending in document["accounts"].get("cpf_public", {}).get("pending", []):
        print(f"  pending {pending['year']}: cpf_public {pending['cpf_public']} hours")


def run_statement(arguments: argparse.Namespace, settings: Settings) -> int:
    with Ledger(settings) as ledger:
        lines = _reader(ledger).statement(arguments.person, arguments.start, arguments.end)
    if arguments.json:
        print_json(lines)
        return 0
    for line in lines:
        memo = line.get("memo") or line.get("year") or ""
        print(f"{line['on']}  {line['account']:<7} {line['amount']:>10} {line['unit']:<6} "
              f"{line['kind']:<18} {memo}")
    return 0


def run_explain(arguments: argparse.Namespace, settings: Settings) -> int:
    with Ledger(settings) as ledger:
        document = _reader(ledger).explain(arguments.person, arguments.year)
    if arguments.json:
        print_json(document)
        return 0
    result = document["result"]
    print(f"{document['person']} year {document['year']}: {document['status']}")
    for name in ("unit", "facts", "hours_worked", "ratio", "self_employed_months", "profile",
                 "profile_reasons", "parameters", "entitled", "ceiling", "balance", "credited",
                 "note"):
        if name in result:
            print(f"  {name}: {result[name]}")
    return 0


def run_message(arguments: argparse.Namespace, settings: Settings) -> int:
    with Ledger(settings) as ledger:
        try:
            document = _reader(ledger).message(arguments.source, arguments.message_id)
        except UnknownMessage as error:
            print(f"cpa-ledger: {error}", file=sys.stderr)
            return EXIT_FAILURE
    if arguments.json:
        print_json(document)
    else:
        reason = f" ({document['reason']})" if document["reason"] else ""
        print(f"{document['source']}/{document['message_id']}: {document['outcome']}{reason}"
              f" — {document['detail']}")
    return 0


DEMO_SAMPLE_PERSONS = 5


def run_demo(arguments: argparse.Namespace, settings: Settings) -> int:
    from ledger import demo

    first, last = arguments.years
    plan = demo.DemoSettings(persons=arguments.persons, year_from=first, year_to=last,
                             seed=arguments.seed)
    if arguments.list:
        return _list_demo_persons(plan, arguments.json)
    progress = _progress(arguments, demo.progress_total(plan), "person-year")
    with Ledger(settings) as ledger:
        report = run_demo_feed(ledger, plan, progress)
    if progress is not None:
        progress.close()
    samples = demo.sample_persons(plan, DEMO_SAMPLE_PERSONS)
    if arguments.json:
        report["try"] = [{"person": p.identifier, "career": p.describe()} for p in samples]
        print_json(report)
    else:
        for name, value in report.items():
            print(f"{name}: {value}")
        print("persons to try (cpa-ledger balance PERSON; demo --list names them all):")
        for summary in samples:
            print(f"  {summary.identifier}  {summary.describe()}")
    return 0


def _list_demo_persons(plan: Any, as_json: bool) -> int:
    """The demo's persons and their kind of career, without ingesting anything."""
    from ledger import demo

    summaries = list(demo.persons(plan))
    if as_json:
        print_json([{"person": s.identifier, "career": s.career, "first_year": s.first_year,
                     "last_year": s.last_year, "merged": s.merged} for s in summaries])
    else:
        for summary in summaries:
            print(f"{summary.identifier}  {summary.describe()}")
    return 0


def run_demo_feed(ledger: Ledger, plan: Any, progress: Any = None) -> dict[str, Any]:
    """Generate the demo feed, ingest it in batches, and summarise. `progress` (a tqdm bar
    or None) advances by person and wave, out of `demo.progress_total(plan)`."""
    import orjson

    import schemas
    from ledger import demo

    started = time.perf_counter()
    advance = None if progress is None else progress.update
    lines = (
        ingest.Line(schemas.parse(orjson.dumps(message)), ("demo", str(index)), 1)
        for index, message in enumerate(demo.generate(plan, advance))
    )
    counts = ingest.ingest_lines(ledger, lines)
    elapsed = time.perf_counter() - started
    total = sum(counts.values())
    return {
        "persons": plan.persons,
        "years": f"{plan.year_from}-{plan.year_to}",
        "messages": total,
        **{outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
        "seconds": round(elapsed, 2),
        "messages_per_second": round(total / elapsed) if elapsed else 0,
    }


def _require_postgres(ledger: Ledger, command: str) -> None:
    from projections.operations import is_postgres

    if not is_postgres(ledger):
        raise ConfigurationError(
            f"{command} works on the PostgreSQL read models (CPA_DATABASE_URL=postgresql://...);"
            " the embedded default computes its projections in-process")


def run_project(arguments: argparse.Namespace, settings: Settings) -> int:
    import signal
    import threading

    from projections.runner import Runner, live_names

    with Ledger(settings) as ledger:
        _require_postgres(ledger, "project")
        runner = Runner(ledger, live_names(ledger))
        runner.create()
        progress = _progress(arguments, max(0, runner.head() - runner.position()), "event")
        if arguments.until_caught_up:
            projected = runner.catch_up(progress)
        else:
            stopping = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stopping.set())
            signal.signal(signal.SIGINT, lambda *_: stopping.set())
            runner.follow(stopping, progress)
            projected = -1
        position = runner.position()
    if arguments.json:
        print_json({"projected": projected, "position": position})
    elif arguments.until_caught_up:
        print(f"projected {projected} events; position {position}")
    return 0


def run_rebuild(arguments: argparse.Namespace, settings: Settings) -> int:
    from projections.operations import rebuild

    with Ledger(settings) as ledger:
        _require_postgres(ledger, "rebuild")
        head = ledger.app.recorder.max_notification_id() or 0
        projected = rebuild(ledger, arguments.projections, _progress(arguments, head, "event"))
    names = arguments.projections or ["all"]
    if arguments.json:
        print_json({"rebuilt": names, "projected": projected})
    else:
        print(f"rebuilt {', '.join(names)} from {projected} events and switched")
    return 0


def run_replay(arguments: argparse.Namespace, settings: Settings) -> int:
    from projections.operations import replay

    until = arguments.until
    out = arguments.out or f"replay-{until.strftime('%Y%m%dT%H%M%S')}"
    with Ledger(settings) as ledger:
        result = replay(ledger, until, out)
    document = {"database_url": result.database_url, "events": result.events,
                "outcomes": result.outcomes, "until": until.isoformat()}
    if arguments.json:
        print_json(document)
    else:
        print(f"replayed {result.events} events and {result.outcomes} outcomes known at "
              f"{until.isoformat()}\nquery it with CPA_DATABASE_URL={result.database_url}")
    return 0


def run_verify(arguments: argparse.Namespace, settings: Settings) -> int:
    from projections.operations import verify

    with Ledger(settings) as ledger:
        _require_postgres(ledger, "verify")
        verdict = verify(ledger)
    if arguments.json:
        print_json(verdict.as_document())
    elif verdict.ok:
        print(f"verified {verdict.checked_events} events; chain head {verdict.head_link}")
    if not verdict.ok:
        print(f"cpa-ledger: verify failed: {verdict.difference}", file=sys.stderr)
        return EXIT_FAILURE
    return 0
