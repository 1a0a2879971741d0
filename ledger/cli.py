"""`cpa-ledger`: the command line (interfaces.md §1).

Exit status 0 on success; non-zero with a one-line reason on stderr otherwise (with --json, the
reason is also printed as a JSON document on stdout). Long-running commands show a progress bar
on a terminal and stay quiet with --json or off a terminal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import orjson

from ledger import collector
from ledger.config import ConfigurationError, Settings, describe
from ledger.http import limits
from ledger.identity import InvalidPerson
from ledger.parameters import ParameterNotInForce

# The demo generator's bound (`ledger.demo.PERSONS_MAX`, not imported here: the CLI starts
# without loading the generator; tests/test_cli.py checks that the two agree).
DEMO_PERSONS_MAX = 998_001
# `projections.parts.SLOTS` (not imported here either: tests/test_cli.py checks them).
PARTS_MAX = 64

EXIT_FAILURE = 1
EXIT_USAGE = 2
# `ingest`: every line was read, and some messages were rejected (their outcomes are recorded).
EXIT_REJECTED = 3
# Output closed by its reader (`| head`): the conventional status of a process ended by SIGPIPE.
EXIT_BROKEN_PIPE = 128 + 13

Command = Callable[[argparse.Namespace, Settings], int]


class CommandError(RuntimeError):
    """An operating error of a command (a missing file, an argument out of range): its message
    is the one-line reason printed on stderr."""


def _date(text: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text}") from error
    if not limits.DATE_MIN <= day <= limits.DATE_MAX:
        raise argparse.ArgumentTypeError(
            f"dates must be between {limits.DATE_MIN} and {limits.DATE_MAX}: {text}")
    return day


def _timestamp(text: str) -> dt.datetime:
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 timestamp: {text}") from error
    if stamp.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"timestamp needs an offset (Z or +01:00): {text}")
    if not limits.DATE_MIN <= stamp.date() <= limits.DATE_MAX:
        raise argparse.ArgumentTypeError(
            f"timestamps must be between {limits.DATE_MIN} and {limits.DATE_MAX}: {text}")
    return stamp


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"not a whole number: {text}") from error
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}: {text}")
        return number

    return parse


def _years(text: str) -> tuple[int, int]:
    try:
        first, last = (int(part) for part in text.split("-"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected FROM-TO years, e.g. 2015-2026: {text}") \
            from error
    if first > last:
        raise argparse.ArgumentTypeError("FROM must not be after TO")
    return first, last


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cpa-ledger")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line too (argparse prints the usage first), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cpa-ledger",
        description="Event-sourced rights ledger of the Compte personnel d'activité.",
        epilog="exit status: 0 on success; 1 with a one-line reason on stderr; 2 for a wrong"
               " argument;\n  3 when `ingest` recorded some messages as rejected; 141 when the"
               " output's reader went away.\n\n"
               "environment variables:\n" + describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cpa-ledger {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_ingest(commands)
    _add_balance(commands)
    _add_statement(commands)
    _add_explain(commands)
    _add_quote(commands)
    _add_message(commands)
    _add_demo(commands)
    _add_project(commands)
    _add_rebuild(commands)
    _add_replay(commands)
    _add_verify(commands)
    _add_statements(commands)
    _add_notices(commands)
    _add_serve(commands)
    _add_consume(commands)
    _add_publish(commands)
    _add_shards(commands)
    return parser


def _add_serve(commands: Any) -> None:
    command = commands.add_parser(
        "serve", help="the HTTP API, with its OpenAPI document at /openapi.json and /docs",
        description="The HTTP API. On the embedded default (SQLite) it answers from the events;"
                    " on PostgreSQL from the read models that `project` keeps current.")
    command.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    command.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    command.add_argument("--workers", type=int, default=1,
                         help="uvicorn worker processes (default 1)")


def _add_consume(commands: Any) -> None:
    command = commands.add_parser(
        "consume", help="Kafka consumers for the inbound topics (CPA_KAFKA_* settings)")
    command.add_argument("--metrics-port", type=int, default=None,
                         help="serve Prometheus metrics on this port (default CPA_METRICS_PORT;"
                              " none when both are unset)")
    _json_flag(command)


def _add_publish(commands: Any) -> None:
    command = commands.add_parser(
        "publish", help="outbound stream: postings and order decisions to Kafka")
    _json_flag(command)


def _add_project(commands: Any) -> None:
    command = commands.add_parser(
        "project", help="projection runner (PostgreSQL): keeps the read models current")
    command.add_argument("--until-caught-up", action="store_true",
                         help="stop once the read models reach the head of the event log"
                              " (default: follow it until stopped)")
    _part_flag(command, "run K/N processes, one per part, each with its own positions; together"
                        " they write what one process writes; part 1 also keeps the audit"
                        " chain; any N may follow any other")
    _json_flag(command)


def _part_flag(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument("--part", type=_part, default=None, metavar="K/N",
                         help=f"project only part K of N of the person keys ({PARTS_MAX} at"
                              f" most): {what} (default: all of them)")


def _part(text: str) -> Any:
    from projections.parts import InvalidPart, Part

    try:
        return Part.parse(text)
    except InvalidPart as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _add_rebuild(commands: Any) -> None:
    command = commands.add_parser(
        "rebuild", help="rebuild read models into new tables, then switch (PostgreSQL)")
    command.add_argument("projections", nargs="*", metavar="PROJECTION",
                         help="balances, accruals, audit_chain, statistics (default: all)")
    _part_flag(command, "run K/N processes concurrently, then once without --part: it"
                        " projects what is left and switches")
    _json_flag(command)


def _add_replay(commands: Any) -> None:
    command = commands.add_parser(
        "replay", help="rebuild everything as known at a time, into a separate read-only store")
    command.add_argument("--until", type=_timestamp, required=True, metavar="TIMESTAMP",
                         help="RFC 3339 time: events and outcomes recorded up to it are copied")
    command.add_argument("--out", metavar="DIR",
                         help="a new folder (SQLite) or schema name (PostgreSQL);"
                              " default replay-YYYYMMDDTHHMMSS of --until")
    _json_flag(command)


def _add_verify(commands: Any) -> None:
    command = commands.add_parser(
        "verify", help="check the audit hash chain (and, on PostgreSQL, the read models against"
                       " a fresh replay)")
    _json_flag(command)


def _json_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument("--json", action="store_true",
                         help="machine-readable JSON on stdout, also for errors (default: text)")


def _add_ingest(commands: Any) -> None:
    command = commands.add_parser(
        "ingest", help="ingest JSON Lines messages in file order",
        description="Decides and records every message; prints counts by outcome. Exit status 0"
                    " when no message was rejected, 3 when some were (their outcomes and"
                    " reasons are recorded: see --report), 1 on an error.")
    command.add_argument("files", nargs="+", metavar="FILE",
                         help="JSON Lines file (one message a line); - reads stdin")
    command.add_argument("--report", metavar="REPORT",
                         help="write one JSON line per input line (file, line, source,"
                              " message_id, outcome, reason, detail); - for stdout"
                              " (default: none)")
    _json_flag(command)


def _person(command: argparse.ArgumentParser) -> None:
    command.add_argument("person", metavar="PERSON",
                         help="NIR or NIA: 13 characters and the 2-digit key")


def _add_balance(commands: Any) -> None:
    command = commands.add_parser("balance", help="a person's balances per account, with units")
    _person(command)
    command.add_argument("--as-of", type=_date, metavar="DATE",
                         help="YYYY-MM-DD, from 1900-01-01 to 2999-12-31 (default: today)")
    command.add_argument("--known-at", type=_timestamp, metavar="TIMESTAMP",
                         help="RFC 3339: as the ledger knew it at that time, i.e. counting only"
                              " what was recorded by then (default: now)")
    _json_flag(command)


def _add_statement(commands: Any) -> None:
    command = commands.add_parser("statement", help="a person's postings, oldest first")
    _person(command)
    command.add_argument("--from", dest="start", type=_date, metavar="DATE",
                         help="first effective date, YYYY-MM-DD (default: the first posting)")
    command.add_argument("--to", dest="end", type=_date, metavar="DATE",
                         help="last effective date, YYYY-MM-DD (default: the last posting)")
    _json_flag(command)


def _add_explain(commands: Any) -> None:
    command = commands.add_parser("explain", help="how year N's accrual was computed")
    _person(command)
    command.add_argument("--year", type=_whole(limits.ACCRUAL_YEAR_MIN, limits.ACCRUAL_YEAR_MAX),
                         required=True, metavar="N",
                         help=f"acquisition year, {limits.ACCRUAL_YEAR_MIN} (the CPF's first)"
                              f" to {limits.ACCRUAL_YEAR_MAX}")
    _json_flag(command)


def _add_quote(commands: Any) -> None:
    command = commands.add_parser(
        "quote", help="what a training order would get (records nothing)",
        description="The funded amount, copay, out-of-pocket amount and draw by bucket of a"
                    " training order, as the HTTP quote answers it. Records nothing.")
    _person(command)
    command.add_argument("--price-eur", required=True, metavar="P",
                         help="the training's price in euros, e.g. 1200 or 1200.50")
    command.add_argument("--certification", default="unspecified", metavar="C",
                         help="the certification's code, e.g. RNCP12345 (default: unspecified,"
                              " so top-ups earmarked for certifications are not drawn)")
    command.add_argument("--on", type=_date, metavar="DATE",
                         help="order date, YYYY-MM-DD (default: today)")
    _json_flag(command)


def _add_message(commands: Any) -> None:
    command = commands.add_parser("message", help="the recorded outcome of one message")
    command.add_argument("source", metavar="SOURCE", help="the message's source, e.g. dsn")
    command.add_argument("message_id", metavar="MESSAGE_ID", help="the message's id")
    _json_flag(command)


def _add_demo(commands: Any) -> None:
    command = commands.add_parser("demo", help="generate synthetic careers and ingest them")
    command.add_argument("--persons", type=_whole(1, DEMO_PERSONS_MAX), default=1000,
                         metavar="N", help=f"careers to generate, 1 to {DEMO_PERSONS_MAX}"
                                           " (default 1000)")
    command.add_argument("--years", type=_years, default=(2015, dt.date.today().year),
                         metavar="FROM-TO",
                         help=f"years of the careers (default 2015-{dt.date.today().year})")
    command.add_argument("--seed", type=int, default=1, metavar="S",
                         help="random seed: the same seed gives the same feed (default 1)")
    command.add_argument("--list", action="store_true",
                         help="list the demo's persons and their careers; ingest nothing")
    _json_flag(command)


def _add_statements(commands: Any) -> None:
    from ledger.statements.arguments import add_arguments

    add_arguments(commands.add_parser(
        "statements", help="a yearly statement PDF per person (resumable)",
        description="Write DIR/<person key>.pdf for every person: rights at 31 December of "
                    "YEAR, what was credited and why, what was used, top-ups expiring within "
                    "a year, DIF and conversion options. Persons already written are skipped."))


def _add_notices(commands: Any) -> None:
    command = commands.add_parser(
        "notices", help="announce top-ups expiring within 90 days on the outbound topic",
        description="One sweep (run it daily): a topup_expiry_notice record on the outbound "
                    "topic for each top-up that became due since the last sweep.")
    command.add_argument("--on", type=_date, default=None,
                         help="the sweep's day (default today)")
    command.add_argument("--days", type=int, default=90,
                         help="how long before expiry a notice is sent (default 90)")


def _add_shards(commands: Any) -> None:
    command = commands.add_parser(
        "shards", help="the shard map (CPA_SHARD_MAP): list, verify, statistics, replay, move",
        description="Operations across the shards of CPA_SHARD_MAP (or on the single store when"
                    " it is unset). Any other command works on one shard with CPA_DATABASE_URL"
                    " set to that shard's database.")
    command.add_argument("action", nargs="?", default="list",
                         choices=("list", "verify", "statistics", "replay", "move"),
                         help="list (default): each shard's partitions, events and outcomes;"
                              " verify: `verify` on every shard; statistics: the statistics read"
                              " model summed over the shards; replay: `replay` of every shard;"
                              " move: copy the partitions whose owner --to-map changes")
    command.add_argument("--shard", metavar="NAME", help="only this shard (default: every shard)")
    command.add_argument("--to-map", metavar="FILE",
                         help="move: the new shard map (TOML, as CPA_SHARD_MAP; required by move,"
                              " no default)")
    command.add_argument("--until", type=_timestamp, metavar="TIMESTAMP",
                         help="replay: as for `replay` (required by replay, no default)")
    command.add_argument("--out", metavar="PREFIX",
                         help="replay: schema name prefix (default replay-YYYYMMDDTHHMMSS);"
                              " each shard's replay gets -SHARD appended")
    _json_flag(command)


# Commands that live beside their subsystem (imported only when run).
_ELSEWHERE = {
    "run_notices": "consumers.notices",
    "run_statements": "ledger.statements.run",
    "run_serve": "ledger.http.serve",
    "run_consume": "consumers.cli",
    "run_publish": "consumers.cli",
    "run_shards": "consumers.shardcli",
}


def _run(name: str) -> Command:
    import importlib

    module = importlib.import_module(_ELSEWHERE.get(name, "ledger.commands"))
    function: Command = getattr(module, name)
    return function


def main(argv: Sequence[str] | None = None) -> int:
    try:
        arguments = build_parser().parse_args(argv)
    except BrokenPipeError:  # --help into a closed pipe
        _discard_stdout()
        raise SystemExit(EXIT_BROKEN_PIPE) from None
    collector.tune()
    try:
        settings = Settings.from_environment()
        return _run(f"run_{arguments.command}")(arguments, settings)
    except _expected() as error:
        return fail(arguments, str(error))
    except KeyboardInterrupt:
        return fail(arguments, "interrupted")
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE


def _expected() -> tuple[type[BaseException], ...]:
    from ledger.store_identity import ReadOnlyStore
    from projections.reader import UnknownMessage

    return (ConfigurationError, InvalidPerson, CommandError, ParameterNotInForce,
            UnknownMessage, ReadOnlyStore)


def fail(arguments: argparse.Namespace, reason: str) -> int:
    """The one-line reason on stderr (and as JSON on stdout with --json); exit status 1."""
    line = " ".join(reason.split())
    if getattr(arguments, "json", False):
        try:
            print_json({"ok": False, "error": line})
        except BrokenPipeError:
            _discard_stdout()
    print(f"cpa-ledger: {line}", file=sys.stderr)
    return EXIT_FAILURE


def _discard_stdout() -> None:
    """The reader of stdout went away: send what is still buffered nowhere, so that the
    interpreter's final flush does not fail again (Python's documented SIGPIPE handling)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (captured in tests)
        pass


def print_json(document: Any) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
