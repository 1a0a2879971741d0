"""Debian programs the tests use besides the servers: Chromium and its WebDriver (the pages'
browser tests) and pdftotext (the yearly statements' text).

`ensure(PROGRAM)` returns the program's path; when it is missing and we are root (a CI run, a
developer machine of this project), it installs the Debian package first with apt-get, as
`postgres.py` does for the PostgreSQL server. Nothing else downloads a browser: Selenium is
given both paths, so its own driver manager never runs.

    python deploy/local/debian.py install   # installs every package below when missing
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

INSTALL_TIMEOUT_S = 1_200
# One apt-get at a time in this process: the test session installs packages from several threads
# (its servers and these programs warm up together), and dpkg takes a lock of its own.
APT_LOCK = threading.Lock()
# program -> (Debian package, where Debian puts it)
PROGRAMS = {
    "chromium": ("chromium", "/usr/bin/chromium"),
    "chromedriver": ("chromium-driver", "/usr/bin/chromedriver"),
    "pdftotext": ("poppler-utils", "/usr/bin/pdftotext"),
}


class MissingProgram(Exception):
    """A program is not installed and could not be installed."""


def find(program: str) -> str | None:
    _, usual = PROGRAMS[program]
    found = shutil.which(program)
    if found is not None:
        return found
    return usual if Path(usual).is_file() else None


def ensure(program: str, install: bool | None = None) -> str:
    """The program's path, installing its package when missing (`install`: None means "when
    root")."""
    found = find(program)
    if found is not None:
        return found
    package, _ = PROGRAMS[program]
    allowed = os.geteuid() == 0 if install is None else install
    if not allowed or os.geteuid() != 0:
        raise MissingProgram(f"{program} not found: install the Debian package {package} "
                             f"(`sudo apt-get install -y {package}`), or run as root")
    with APT_LOCK:
        # Another thread may have installed it while we waited.
        return find(program) or _install(program, package)


def _install(program: str, package: str) -> str:
    print(f"{program} not found; installing {package} with apt-get", file=sys.stderr)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"],
                    ["apt-get", "install", "-y", package]):
        completed = subprocess.run(command, env=environment, capture_output=True, text=True,
                                   timeout=INSTALL_TIMEOUT_S, check=False)
        if completed.returncode != 0:
            raise MissingProgram(f"`{' '.join(command)}` failed ({completed.returncode}):\n"
                                 f"{completed.stdout[-2000:]}{completed.stderr[-2000:]}")
    found = find(program)
    if found is None:
        raise MissingProgram(f"apt-get installed {package} but {program} is not found")
    return found


def main(arguments: list[str]) -> int:
    if arguments != ["install"]:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        for program in PROGRAMS:
            print(f"{program}: {ensure(program, install=True)}")
    except MissingProgram as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
