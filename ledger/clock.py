"""The one clock the ledger reads: when it learnt of something (event timestamps, recording
times of outcomes). Built at the composition root and passed down, so that tests can set it
(no sleeping to separate two moments)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    """Now, in UTC (timezone-aware, as eventsourcing's timestamps are)."""
    return dt.datetime.now(dt.UTC)
