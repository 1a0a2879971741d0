"""The CLI commands: each builds what it needs from the settings (the composition root)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from ledger import ingest, texts
from ledger.application import Ledger
from ledger.batch import Result
from ledger.cli import EXIT_FAILURE, EXIT_REJECTED, CommandError, print_json
from ledger.config import ConfigurationError, Settings
from ledger.identity import normalise
from ledger.outcomes import MessageOutcome
from projections.reader import Reader


def _reader(ledger: Ledger) -> Any:
    """In-process projections on the embedded default; the read-model tables on PostgreSQL."""
    from projections.operations import is_postgres

    if is_postgres(ledger):
        from projections.tables import TableReader

        return TableReader(ledger)
    return Reader(ledger)

OUTCOMES = tuple(outcome.value for outcome in MessageOutcome)


def _interactive(arguments: argparse.Namespace) -> bool:
    return sys.stderr.isatty() and not getattr(arguments, "json", False)


def _progress(arguments: argparse.Namespace, total: int | None, unit: str) -> Any:
    if not _interactive(arguments):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, file=sys.stderr, leave=False)


def run_ingest(arguments: argparse.Namespace, settings: Settings) -> int:
    try:
        ingest.check_inputs(arguments.files)
    except ingest.UnreadableInput as error:
        raise CommandError(str(error)) from error
    settings.warn_if_insecure()
    counts: Counter[str] = Counter()
    with _report_to(arguments.report) as report, Ledger(settings) as ledger:
        for name in arguments.files:
            size = None if name == "-" else Path(name).stat().st_size
            progress = _progress(arguments, size, "B")
            try:
                with ingest.open_input(name) as stream:
                    counts += ingest.ingest_lines(ledger, ingest.parse_lines(name, stream),
                                                  progress, report)
            except ingest.UnreadableInput as error:
                raise CommandError(str(error)) from error
            finally:
                if progress is not None:
                    progress.close()
    summary = {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}
    if arguments.json:
        print_json(summary)
    else:
        print(" ".join(f"{outcome}={count}" for outcome, count in summary.items()))
    return EXIT_REJECTED if summary[MessageOutcome.REJECTED.value] else 0


@contextmanager
def _report_to(name: str | None) -> Iterator[ingest.Report | None]:
    """`--report`: one JSON line per input line, written as each batch is recorded."""
    if name is None:
        yield None
        return
    if name == "-":
        yield _line_writer(sys.stdout)
        return
    try:
        stream = Path(name).open("w", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as error:
        raise CommandError(f"--report {name}: {error.strerror or error}") from error
    with stream:
        yield _line_writer(stream)


def _line_writer(stream: IO[str]) -> ingest.Report:
    def write(line: ingest.Line, result: Result) -> None:
        stream.write(orjson.dumps(ingest.report_line(line, result)).decode() + "\n")

    return write


def run_balance(arguments: argparse.Namespace, settings: Settings) -> int:
    as_of = arguments.as_of or dt.date.today()
    with Ledger(settings) as ledger:
        document = _reader(ledger).balance(arguments.person, as_of, arguments.known_at)
    _print(arguments, document, texts.balance)
    return 0


def _print(arguments: argparse.Namespace, document: Any,
           text: Callable[[Any], list[str]]) -> None:
    if arguments.json:
        print_json(document)
    else:
        print("\n".join(text(document)))


def run_statement(arguments: argparse.Namespace, settings: Settings) -> int:
    with Ledger(settings) as ledger:
        reader = _reader(ledger)
        lines = reader.statement(arguments.person, arguments.start, arguments.end)
    if arguments.json:
        print_json(lines)
    else:
        print("\n".join(texts.statement(normalise(arguments.person), lines)))
    return 0


def run_explain(arguments: argparse.Namespace, settings: Settings) -> int:
    with Ledger(settings) as ledger:
        document = _reader(ledger).explain(arguments.person, arguments.year)
    _print(arguments, document, texts.explanation)
    return 0


def run_quote(arguments: argparse.Namespace, settings: Settings) -> int:
    from ledger import quotes

    on = arguments.on or dt.date.today()
    with Ledger(settings) as ledger:
        try:
            document = quotes.quote_order(ledger, arguments.person, arguments.certification,
                                          arguments.price_eur, on)
        except quotes.QuoteRefused as error:
            raise CommandError(f"{error.reason}: {error.detail}") from error
    _print(arguments, document, texts.quote)
    return 0


def run_message(arguments: argparse.Namespace, settings: Settings) -> int:
    with Ledger(settings) as ledger:
        document = _reader(ledger).message(arguments.source, arguments.message_id)
    _print(arguments, document, texts.outcome)
    return 0


DEMO_SAMPLE_PERSONS = 5


def run_demo(arguments: argparse.Namespace, settings: Settings) -> int:
    from ledger import demo

    first, last = arguments.years
    try:
        plan = demo.DemoSettings(persons=arguments.persons, year_from=first, year_to=last,
                                 seed=arguments.seed)
    except ValueError as error:
        raise CommandError(str(error)) from error
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

    from projections.parts import WHOLE
    from projections.runner import Runner, live_names

    with Ledger(settings) as ledger:
        _require_postgres(ledger, "project")
        runner = Runner(ledger, live_names(ledger), part=arguments.part or WHOLE)
        runner.create()
        progress = _progress(arguments, max(0, runner.head() - runner.part_position()), "event")
        if arguments.until_caught_up:
            projected = runner.catch_up(progress)
        else:
            stopping = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stopping.set())
            signal.signal(signal.SIGINT, lambda *_: stopping.set())
            runner.follow(stopping, progress)
            projected = -1
        position = runner.part_position()
    part = None if arguments.part is None else str(arguments.part)
    if arguments.json:
        print_json({"projected": projected, "position": position, "part": part})
    elif arguments.until_caught_up:
        of_part = "" if part is None else f" (part {part})"
        print(f"projected {texts.plural(projected, 'event')}; position {position}{of_part}")
    return 0


def run_rebuild(arguments: argparse.Namespace, settings: Settings) -> int:
    from projections.operations import rebuild
    from projections.parts import WHOLE

    with Ledger(settings) as ledger:
        _require_postgres(ledger, "rebuild")
        head = ledger.app.recorder.max_notification_id() or 0
        projected = rebuild(ledger, arguments.projections, _progress(arguments, head, "event"),
                            part=arguments.part or WHOLE)
    names = arguments.projections or ["all"]
    part = None if arguments.part is None else str(arguments.part)
    if arguments.json:
        print_json({"rebuilt": names, "projected": projected, "part": part,
                    "switched": part is None})
    elif part is None:
        print(f"rebuilt {', '.join(names)} from {texts.plural(projected, 'event')} and switched")
    else:
        finish = " ".join(["cpa-ledger rebuild", *arguments.projections])
        print(f"rebuilt part {part} of {', '.join(names)} from"
              f" {texts.plural(projected, 'event')}; once every part is done, run"
              f" `{finish}` without --part to finish and switch")
    return 0


def run_replay(arguments: argparse.Namespace, settings: Settings) -> int:
    from projections.operations import ReplayTargetExists, replay

    until = arguments.until
    out = arguments.out or f"replay-{until.strftime('%Y%m%dT%H%M%S')}"
    with Ledger(settings) as ledger:
        try:
            result = replay(ledger, until, out)
        except ReplayTargetExists as error:
            raise CommandError(str(error)) from error
    document = {"database_url": result.database_url, "events": result.events,
                "outcomes": result.outcomes, "until": until.isoformat()}
    if arguments.json:
        print_json(document)
    else:
        print(f"replayed {texts.plural(result.events, 'event')} and "
              f"{texts.plural(result.outcomes, 'outcome')} known at "
              f"{until.isoformat()}\nquery it with CPA_DATABASE_URL={result.database_url}")
    return 0


def run_verify(arguments: argparse.Namespace, settings: Settings) -> int:
    from projections.operations import verify

    with Ledger(settings) as ledger:
        verdict = verify(ledger)
    if arguments.json:
        print_json(verdict.as_document())
    elif verdict.ok:
        print(f"verified {texts.plural(verdict.checked_events, 'event')}; chain head "
              f"{verdict.head_link}")
    if not verdict.ok:
        print(f"cpa-ledger: verify failed: {verdict.difference}", file=sys.stderr)
        return EXIT_FAILURE
    return 0
