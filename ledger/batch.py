"""The working set of one transaction, and what callers learn about each message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from ledger.outcomes import Result
from ledger.storage import Receipt

__all__ = ["Batch", "Result"]


@dataclass(slots=True)
class Batch:
    """Accounts changed, outcomes and index rows of one transaction."""

    touched: dict[uuid.UUID, Any] = field(default_factory=dict)
    receipts: list[Receipt] = field(default_factory=list)
    repeats: list[Receipt] = field(default_factory=list)
    person_years: set[tuple[int, str]] = field(default_factory=set)
    seen: dict[tuple[str, str], Receipt] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    # Accounts the batch's prefetch found absent from the store: opened without asking again.
    absent: set[uuid.UUID] = field(default_factory=set)
    # Accounts the batch's prefetch loaded: held here for the batch even when the ledger's
    # cache of accounts, smaller than the batch's persons, has already let them go.
    loaded: dict[uuid.UUID, Any] = field(default_factory=dict)
