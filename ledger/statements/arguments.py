"""The `statements` command's arguments (light to import: the parser is built for every
command; the work is in `run`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--year", type=int, required=True,
                         help="the year: rights at 31 December of it, what it credited and used")
    command.add_argument("--out", type=Path, required=True,
                         help="folder of the PDFs (created if missing), one KEY.pdf per person")
    command.add_argument("--person", action="append", default=[], metavar="ID",
                         help="only this person (NIR or NIA; repeatable): the statement shows "
                              "the identifier (default: every person, shown by key)")
    command.add_argument("--lang", choices=("fr", "en"), default="fr",
                         help="language of the statements (default fr)")
    command.add_argument("--json", action="store_true",
                         help="print the summary as JSON (no progress bar)")
