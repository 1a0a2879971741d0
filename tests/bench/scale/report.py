"""The figures of one scale run: the table printed on stdout and the JSON document."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ledger import limits
from tests.bench.bench_kafka import Run
from tests.bench.bench_postgres import Machine, Rate
from tests.bench.scale.external import Http
from tests.bench.scale.stages import Ingest, Segment

# Year segments averaged at each end of the feed for the early/late comparison.
END_SEGMENTS = 2
# "Constant cost per message": the late years' rate within this factor of the early years'.
CONSTANT_FACTOR_MAX = 1.5
# A year whose batches found at least this share of their persons in the cache is a cached
# year (the feed's first: everyone is new), not a loaded one.
MOSTLY_CACHED = 0.5
MIB = 1024 * 1024
KIB_PER_MIB = 1024


@dataclass(slots=True)
class Report:
    persons: int
    seed: int
    machine: Machine
    load_average_start: str
    load_average_end: str = ""
    naive: Rate | None = None
    ingest: Ingest = field(default_factory=Ingest)
    limit: Rate | None = None
    catch_up: Rate | None = None
    rebuild: Rate | None = None
    http: Http | None = None
    kafka: Run | None = None
    peak_rss_mib: dict[str, float] = field(default_factory=dict)

    def early_late(self) -> tuple[Segment, Segment]:
        """The first and last END_SEGMENTS years of the feed, each summed into one segment."""
        ordered = [self.ingest.segments[year] for year in sorted(self.ingest.segments)]
        early, late = ordered[:END_SEGMENTS], ordered[-END_SEGMENTS:]
        return _joined(early), _joined(late)

    def loaded_early_late(self) -> tuple[Segment, Segment]:
        """The first and last END_SEGMENTS years in which most of a batch's persons were
        loaded from the store (not found in the cache): the cost of a message against the
        length of the history, the cache apart."""
        ordered = [self.ingest.segments[year] for year in sorted(self.ingest.segments)]
        loaded = [segment for segment in ordered if segment.hit_rate < MOSTLY_CACHED]
        return _joined(loaded[:END_SEGMENTS]), _joined(loaded[-END_SEGMENTS:])

    def ratios(self) -> dict[str, float | None]:
        project = self.ingest.rate
        early, late = self.early_late()
        loaded_early, loaded_late = self.loaded_early_late()
        bare = self._http_rate("bare Starlette JSON")
        limit = _events(self.limit)
        return {
            "project_over_naive_messages": _ratio(project.messages_per_second,
                                                  _messages(self.naive)),
            "project_over_naive_events": _ratio(project.events_per_second, _events(self.naive)),
            "project_over_limit_events": _ratio(project.events_per_second, limit),
            "catch_up_over_limit_events": _ratio(_events(self.catch_up), limit),
            "rebuild_over_limit_events": _ratio(_events(self.rebuild), limit),
            "late_over_early_messages": _ratio(late.messages_per_second,
                                               early.messages_per_second),
            "late_over_early_loaded_messages": _ratio(loaded_late.messages_per_second,
                                                      loaded_early.messages_per_second),
            "today_over_bare_requests": _ratio(self._http_rate("balance today (cached)"), bare),
            "as_of_over_bare_requests": _ratio(self._http_rate("balance as_of (computed)"), bare),
        }

    def _http_rate(self, name: str) -> float | None:
        if self.http is None:
            return None
        return next((f.requests_per_second for f in self.http.figures if f.name == name), None)

    def close_rate(self) -> tuple[int, float]:
        persons = sum(close.persons or 0 for close in self.ingest.closes)
        return persons, sum(close.seconds for close in self.ingest.closes)

    def as_document(self) -> dict[str, Any]:
        ingest = self.ingest
        return {
            "persons": self.persons, "seed": self.seed, "machine": asdict(self.machine),
            "load_average": {"start": self.load_average_start, "end": self.load_average_end},
            "batch_messages": limits.INGEST_BATCH_MESSAGES_MAX,
            "write_path": {name: rate.as_document() for name, rate in
                           (("naive", self.naive), ("project", ingest.rate),
                            ("limit", self.limit)) if rate is not None},
            "validate_seconds": round(ingest.validate_seconds, 3),
            "outcomes": dict(ingest.outcomes),
            "years": [{**asdict(s), "messages_per_second": round(s.messages_per_second, 1)}
                      for s in ingest.segments.values()],
            "year_closes": [asdict(close) for close in ingest.closes],
            "store_bytes": ingest.store_bytes,
            "read_models": {rate.name: rate.as_document()
                            for rate in (self.catch_up, self.rebuild) if rate is not None},
            "http": None if self.http is None else asdict(self.http),
            "kafka": None if self.kafka is None else asdict(self.kafka),
            "ratios": self.ratios(),
            "peak_rss_mib": {name: round(mib, 1) for name, mib in self.peak_rss_mib.items()},
        }


def _joined(segments: list[Segment]) -> Segment:
    return Segment(segments[0].year if segments else 0, sum(s.messages for s in segments),
                   sum(s.seconds for s in segments))


def _messages(rate: Rate | None) -> float | None:
    return None if rate is None else rate.messages_per_second


def _events(rate: Rate | None) -> float | None:
    return None if rate is None else rate.events_per_second


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


def _times(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:,.2f}x"


def _count(value: float | None, digits: int = 0) -> str:
    return "-" if not value else f"{value:,.{digits}f}"


def render(report: Report) -> str:
    host = report.machine
    parts = [
        f"cpa-ledger at scale: {report.persons:,} persons (seed {report.seed}); "
        f"{host.cpus} CPUs shared with other work, Python {host.python}, "
        f"PostgreSQL {host.postgresql}",
        f"load average: start {report.load_average_start} | end {report.load_average_end}",
        write_path(report), years(report), store(report), closes(report),
        read_models(report)]
    if report.http is not None:
        parts.append(http(report.http, report.ratios()))
    if report.kafka is not None:
        parts.append(kafka(report.kafka))
    peaks = ", ".join(f"{name} {mib:,.0f}" for name, mib in report.peak_rss_mib.items())
    parts.append(f"peak RSS per process (MiB): {peaks}")
    return "\n\n".join(part for part in parts if part)


def _rate_row(label: str, rate: Rate | None) -> str:
    if rate is None:
        return f"{label:<52} {'not run':>10}"
    return (f"{label:<52} {_count(rate.messages):>10} {_count(rate.events):>10} "
            f"{rate.seconds:>8,.1f} {_count(rate.messages_per_second):>9} "
            f"{_count(rate.events_per_second):>10}")


def write_path(report: Report) -> str:
    ratios = report.ratios()
    ingest = report.ingest
    parse_rate = ingest.rate.messages / ingest.validate_seconds if ingest.validate_seconds else 0
    return "\n".join([
        f"{'write path (feed -> PostgreSQL)':<52} {'messages':>10} {'events':>10} "
        f"{'seconds':>8} {'msg/s':>9} {'events/s':>10}",
        _rate_row("naive peer: eventsourcing get+mutate+save per msg", report.naive),
        _rate_row(f"project: Ledger.ingest, batches of {limits.INGEST_BATCH_MESSAGES_MAX:,}",
                  ingest.rate),
        _rate_row("limit: binary COPY of the store's event rows", report.limit),
        f"project/naive: {_times(ratios['project_over_naive_messages'])} msg/s, "
        f"{_times(ratios['project_over_naive_events'])} events/s; project/limit: "
        f"{_times(ratios['project_over_limit_events'])} events/s",
        f"(parsing apart, schemas.parse: {parse_rate:,.0f} msg/s; outcomes: "
        + ", ".join(f"{name} {count:,}" for name, count in sorted(ingest.outcomes.items()))
        + ")",
    ])


def years(report: Report) -> str:
    rows = ["project ingestion by year of published_at (closes apart)",
            f"{'year':<6} {'messages':>10} {'seconds':>8} {'msg/s':>9} {'cache hits':>10}"
            f" {'loaded':>9} {'replayed/load':>13}"]
    for year in sorted(report.ingest.segments):
        segment = report.ingest.segments[year]
        rows.append(f"{year:<6} {segment.messages:>10,} {segment.seconds:>8,.1f} "
                    f"{segment.messages_per_second:>9,.0f} {segment.hit_rate:>10.0%}"
                    f" {segment.loaded:>9,} {segment.replayed_per_load:>13.1f}")
    early, late = report.early_late()
    ratio = report.ratios()["late_over_early_messages"]
    constant = ratio is not None and 1 / CONSTANT_FACTOR_MAX <= ratio <= CONSTANT_FACTOR_MAX
    rows.append(f"early ({END_SEGMENTS} first years) {early.messages_per_second:,.0f} msg/s, "
                f"late ({END_SEGMENTS} last) {late.messages_per_second:,.0f} msg/s: "
                f"late/early {_times(ratio)} -> constant (within {CONSTANT_FACTOR_MAX}x): "
                f"{'yes' if constant else 'no'}")
    first, last = report.loaded_early_late()
    if first.messages:
        loaded = report.ratios()["late_over_early_loaded_messages"]
        flat = loaded is not None and 1 / CONSTANT_FACTOR_MAX <= loaded <= CONSTANT_FACTOR_MAX
        rows.append(f"years of loaded persons (cache hits under {MOSTLY_CACHED:.0%}): "
                    f"{END_SEGMENTS} first {first.messages_per_second:,.0f} msg/s, "
                    f"{END_SEGMENTS} last {last.messages_per_second:,.0f} msg/s: "
                    f"{_times(loaded)} -> flat in the history's length (within "
                    f"{CONSTANT_FACTOR_MAX}x): {'yes' if flat else 'no'}")
    return "\n".join(rows)


def store(report: Report) -> str:
    sizes = report.ingest.store_bytes
    events = report.ingest.rate.events
    if not sizes:
        return ""
    per_event = sum(sizes.values()) / events if events else 0.0
    listed = ", ".join(f"{name} {size / MIB:,.0f} MiB" for name, size in
                       sorted(sizes.items(), key=lambda item: -item[1]) if size >= MIB)
    return (f"store after the feed: {sum(sizes.values()) / MIB:,.0f} MiB, "
            f"{per_event:,.0f} bytes an event ({listed})")


def closes(report: Report) -> str:
    rows = ["project year close (accrual.year.closed, each timed)",
            f"{'year':<6} {'persons':>10} {'seconds':>8} {'persons/s':>10}"]
    for close in report.ingest.closes:
        rate = close.persons / close.seconds if close.persons and close.seconds else None
        rows.append(f"{close.year:<6} {_count(close.persons):>10} {close.seconds:>8,.2f} "
                    f"{_count(rate):>10}")
    persons, seconds = report.close_rate()
    rows.append(f"{'all':<6} {persons:>10,} {seconds:>8,.2f} "
                f"{_count(persons / seconds if seconds else None):>10}")
    return "\n".join(rows)


def read_models(report: Report) -> str:
    ratios = report.ratios()
    rows = [f"{'project read models (all of them)':<52} {'messages':>10} {'events':>10} "
            f"{'seconds':>8} {'msg/s':>9} {'events/s':>10}",
            _rate_row("catch-up: projections.runner.Runner.catch_up", report.catch_up),
            _rate_row("rebuild: projections.operations.rebuild", report.rebuild),
            f"catch-up/limit: {_times(ratios['catch_up_over_limit_events'])}, rebuild/limit: "
            f"{_times(ratios['rebuild_over_limit_events'])} events/s"]
    return "\n".join(rows)


def http(figures: Http, ratios: dict[str, float | None]) -> str:
    rows = [f"HTTP reads: cpa-ledger serve --workers {figures.workers}, wrk 2 threads, "
            f"{figures.connections} connections, {figures.seconds} s each, random persons",
            f"{'endpoint':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"]
    for row in figures.figures:
        rows.append(f"{row.name:<28} {row.requests_per_second:>9,.0f} {row.p50_ms:>8.2f} "
                    f"{row.p99_ms:>8.2f} {row.errors:>8,}")
    rows.append(f"project/bare: today {_times(ratios['today_over_bare_requests'])}, "
                f"as_of {_times(ratios['as_of_over_bare_requests'])} req/s")
    return "\n".join(rows)


def kafka(run: Run) -> str:
    # A backlog drained between two samples has no 10-90 % window to measure.
    sustained = (f"{run.sustained_per_s:,.0f} msg/s" if run.sustained_per_s > 0
                 else "n/a (backlog too small)")
    return (f"Kafka -> PostgreSQL, one cpa-ledger consume ({run.label}): "
            f"{sustained} sustained (10-90 % of the backlog), "
            f"{run.messages:,} recorded in {run.total_s:,.1f} s with start-up")
