"""`cpa-ledger`: the command line (interfaces.md §1).

Exit status 0 on success; non-zero with a one-line reason on stderr otherwise. Long-running
commands show a progress bar on a terminal and stay quiet with --json or off a terminal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from ledger.config import ConfigurationError, Settings, describe
from ledger.identity import InvalidPerson

EXIT_FAILURE = 1
EXIT_USAGE = 2

Command = Callable[[argparse.Namespace, Settings], int]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from error


def _timestamp(text: str) -> dt.datetime:
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 timestamp: {text!r}") from error
    if stamp.tzinfo is None:
        raise argparse.ArgumentTypeError(f"timestamp needs an offset: {text!r}")
    return stamp


def _years(text: str) -> tuple[int, int]:
    try:
        first, last = (int(part) for part in text.split("-"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected FROM-TO years, e.g. 2015-2026: {text!r}") \
            from error
    if first > last:
        raise argparse.ArgumentTypeError("FROM must not be after TO")
    return first, last


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cpa-ledger",
        description="Event-sourced rights ledger of the Compte personnel d'activité.",
        epilog="environment variables:\n" + describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_ingest(commands)
    _add_balance(commands)
    _add_statement(commands)
    _add_explain(commands)
    _add_message(commands)
    _add_demo(commands)
    _add_project(commands)
    _add_rebuild(commands)
    _add_replay(commands)
    _add_verify(commands)
    _add_serve(commands)
    _add_consume(commands)
    _add_publish(commands)
    return parser


def _add_serve(commands: Any) -> None:
    command = commands.add_parser("serve", help="the HTTP API (interfaces.md §2)")
    command.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    command.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    command.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")


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
                         help="stop once the read models reach the head of the event log")
    _json_flag(command)


def _add_rebuild(commands: Any) -> None:
    command = commands.add_parser(
        "rebuild", help="rebuild read models into new tables, then switch (PostgreSQL)")
    command.add_argument("projections", nargs="*", metavar="PROJECTION",
                         help="balances, accruals, audit_chain, statistics (default: all)")
    _json_flag(command)


def _add_replay(commands: Any) -> None:
    command = commands.add_parser(
        "replay", help="rebuild everything as known at a time, into a separate store")
    command.add_argument("--until", type=_timestamp, required=True, metavar="TIMESTAMP")
    command.add_argument("--out", metavar="DIR",
                         help="folder (SQLite) or schema name (PostgreSQL); default replay-TIME")
    _json_flag(command)


def _add_verify(commands: Any) -> None:
    command = commands.add_parser(
        "verify", help="check the audit hash chain and the read models against a replay")
    _json_flag(command)


def _json_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument("--json", action="store_true", help="machine-readable JSON output")


def _add_ingest(commands: Any) -> None:
    command = commands.add_parser("ingest", help="ingest JSON Lines messages in file order")
    command.add_argument("files", nargs="+", metavar="FILE", help="JSON Lines file, - for stdin")
    _json_flag(command)


def _add_balance(commands: Any) -> None:
    command = commands.add_parser("balance", help="a person's balances (interfaces.md §3)")
    command.add_argument("person", metavar="PERSON", help="NIR or NIA with its key")
    command.add_argument("--as-of", type=_date, help="YYYY-MM-DD (default: today)")
    command.add_argument("--known-at", type=_timestamp, help="RFC 3339 (default: now)")
    _json_flag(command)


def _add_statement(commands: Any) -> None:
    command = commands.add_parser("statement", help="a person's postings, oldest first")
    command.add_argument("person", metavar="PERSON")
    command.add_argument("--from", dest="start", type=_date, help="first effective date")
    command.add_argument("--to", dest="end", type=_date, help="last effective date")
    _json_flag(command)


def _add_explain(commands: Any) -> None:
    command = commands.add_parser("explain", help="how year N's accrual was computed")
    command.add_argument("person", metavar="PERSON")
    command.add_argument("--year", type=int, required=True)
    _json_flag(command)


def _add_message(commands: Any) -> None:
    command = commands.add_parser("message", help="the recorded outcome of one message")
    command.add_argument("source", metavar="SOURCE")
    command.add_argument("message_id", metavar="MESSAGE_ID")
    _json_flag(command)


def _add_demo(commands: Any) -> None:
    command = commands.add_parser("demo", help="generate synthetic careers and ingest them")
    command.add_argument("--persons", type=int, default=1000)
    command.add_argument("--years", type=_years, default=(2015, dt.date.today().year))
    command.add_argument("--seed", type=int, default=1)
    command.add_argument("--list", action="store_true",
                         help="list the demo's persons and their careers; ingest nothing")
    _json_flag(command)


# Commands that live beside their subsystem (imported only when run).
_ELSEWHERE = {
    "run_serve": "ledger.http.serve",
    "run_consume": "consumers.cli",
    "run_publish": "consumers.cli",
}


def _run(name: str) -> Command:
    import importlib

    module = importlib.import_module(_ELSEWHERE.get(name, "ledger.commands"))
    function: Command = getattr(module, name)
    return function


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        settings = Settings.from_environment()
        return _run(f"run_{arguments.command}")(arguments, settings)
    except (ConfigurationError, InvalidPerson) as error:
        print(f"cpa-ledger: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("cpa-ledger: interrupted", file=sys.stderr)
        return EXIT_FAILURE


def print_json(document: Any) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
