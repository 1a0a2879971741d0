"""Synthetic feeds for `cpa-ledger demo`: realistic fragmented careers, seeded and
deterministic (`generator`), shaped by the rulebook's own parameter tables (`figures`).

`generate(DemoSettings(...))` yields contract messages in feed order; `sample_persons` names a
few persons of a feed worth looking at, and `persons` lists them all with their kind of career.
"""

from ledger.demo.generator import (
    PERSONS_MAX,
    DemoSettings,
    Message,
    PersonSummary,
    generate,
    persons,
    progress_total,
    sample_persons,
    summary_counts,
    to_jsonl,
)

__all__ = [
    "PERSONS_MAX",
    "DemoSettings",
    "Message",
    "PersonSummary",
    "generate",
    "persons",
    "progress_total",
    "sample_persons",
    "summary_counts",
    "to_jsonl",
]
