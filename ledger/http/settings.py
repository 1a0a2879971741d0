"""The HTTP service's settings: the ledger's, plus its own, read once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ledger.config import ConfigurationError, Settings, Variable
from ledger.http import limits

READY_LAG_VARIABLE = "CPA_READY_LAG_MAX_EVENTS"

VARIABLES = (
    Variable(READY_LAG_VARIABLE, str(limits.READY_LAG_MAX_EVENTS_DEFAULT),
             "PostgreSQL: /readyz answers 503 when the read models lag the event store by more "
             "events than this"),
)


@dataclass(frozen=True, slots=True)
class HttpSettings:
    ledger: Settings
    ready_lag_max_events: int

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, ledger: Settings | None = None
    ) -> HttpSettings:
        values = os.environ if environ is None else environ
        return cls(
            ledger=ledger or Settings.from_environment(values),
            ready_lag_max_events=_count(values, READY_LAG_VARIABLE,
                                        limits.READY_LAG_MAX_EVENTS_DEFAULT),
        )

    @property
    def development(self) -> bool:
        return self.ledger.environment == "development"


def _count(values: Mapping[str, str], name: str, default: int) -> int:
    text = values.get(name) or str(default)
    try:
        number = int(text)
    except ValueError as error:
        raise ConfigurationError(f"{name} must be a whole number, not {text!r}") from error
    if number < 0:
        raise ConfigurationError(f"{name} must not be negative")
    return number
