"""Synthetic feeds for `cpa-ledger demo`: realistic fragmented careers, seeded and deterministic.

`generate(DemoSettings(...))` yields contract messages (JSON-ready dicts, contract v1) in feed
order. It is pure: no I/O, no clock; the same settings always give the same feed, byte for byte
through `to_jsonl`.

What a feed holds: careers from `year_from` with several employers a year, part time (often
800-1400 h of 1607), short contracts and gaps, job-seeker spells, self-employed years,
low-qualification and disability (BOETH) declarations, a few ESAT workers and managers counted in
days, DIF registrations, civic engagement (some below the threshold), hardship (C2P) exposures and
uses of points, top-ups (some earmarked from 2025-04-17), training orders (most entered, some
cancelled, a few refunded; kept mostly within a rough estimate of the person's rights, a few beyond
it), payroll corrections and retractions sent after the year was closed, a few full-rate
retirements and deaths, Corsican births (2A/2B), and for about 1 % of persons a temporary NIA
merged into the NIR (for half of them with a later correction still about the NIA).

Size: about 24 messages per person on average over 2015-2026 (the target is 20-40; 85 % are
payroll declarations), so the demo's 100 000 persons make about 2.4 million messages. Generation
runs at about 30 000 messages a second on one core (the ledger ingests far slower).

Feed order: the producers publish in batches ("waves"). The facts of each year go out from
3 January of the next year over ten days, person after person, so `published_at` never decreases
(a person's messages are in the order producers depend on: payroll, statuses, civic engagement,
top-ups, trainings, hardship, retirement or death, merge). The operator closes year Y on 14 April
Y+1 (`credited_on` 15 April); the last year stays open. Amendments go out a batch later.
`MONTHS_PER_WAVE = 3` gives quarterly batches instead, at four times the work.

Memory stays flat whatever the number of persons: nothing is kept between persons (only a bounded
cache of employers' SIRETs). Each wave re-derives every person from integer-seeded streams: the
profile, that year's jobs, the trainings only when they may be due; and builds only the messages
due in that wave.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import orjson

from ledger.demo import figures
from ledger.demo.figures import (
    CEC_FIRST_YEAR,
    CIVIC_ACTIVITIES,
    CIVIC_THRESHOLDS,
    DIF_CLOSES,
    DIF_HOURS_MAX,
    DIF_OPENS,
    DOUBLE_POINTS_BORN_BEFORE,
    EARMARKS_FROM,
    EUR_ACCRUAL,
    EUR_CEILING,
    EUR_FROM,
    EUR_PER_HOUR,
    FACTORS_IN_FORCE,
    HALF_TIME,
    HOURS_ACCRUAL,
    NO_RESERVED_POINTS_BORN_BEFORE,
    POINTS_BLOCK,
    POINTS_CAP_BEFORE_CHANGE,
    POINTS_RULE_CHANGE,
    REFERENCE_HOURS,
    RETIREMENT_POINTS_MAX,
)
from ledger.identity import with_key
from ledger.money import CENTS_PER_EURO, HUNDREDTHS_PER_HOUR, format_hundredths

Message = dict[str, Any]
_T = TypeVar("_T")

# --- Bounds of the settings ------------------------------------------------------------------
FIRST_YEAR = 2015  # the CPF starts on 2015-01-01
LAST_YEAR_MAX = 2100
ORDERS_PER_COMMUNE = 999  # commune 001-999 and order 001-999 encode the person index ...
PERSONS_MAX = ORDERS_PER_COMMUNE * ORDERS_PER_COMMUNE  # ... so that every NIR is unique

# --- Rulebook dates and figures that shape the messages (from the parameter tables) ---------
MESSAGE_VERSION = 1
FORFAIT_REFERENCE_DAYS = 218
RETIREMENT_USE_AGE_MIN = figures.RETIREMENT_USE_AGE_MIN

# Each person draws from a few independent streams: the profile, the trainings, each year's jobs.
PROFILE_STREAM, TRAININGS_STREAM, FIRST_YEAR_STREAM = 0, 1, 2
STREAMS_PER_PERSON = FIRST_YEAR_STREAM + LAST_YEAR_MAX - FIRST_YEAR + 1
SEED_MODULUS = 1 << 64

# --- Publication calendar ----------------------------------------------------------------------
QUARTERS = (1, 2, 3, 4)
MONTHS_PER_QUARTER = 3
MONTHS_PER_YEAR = 12
DAYS_PER_YEAR = 365
DAYS_PER_WEEK = 7
SUNDAY = 6
MARCH, APRIL, JUNE, OCTOBER, DECEMBER = 3, 4, 6, 10, 12
YEAR_END = (DECEMBER, 31)
ONE_DAY = timedelta(days=1)
# The producers publish in batches ("waves"): the facts of each MONTHS_PER_WAVE months go out
# from the 3rd of the next month, 08:00, over ten days, person after person. Twelve gives the
# feed order "each year's facts, then that year's close"; 3 gives quarterly batches, at four
# times the work (every wave re-derives every person).
MONTHS_PER_WAVE = 12  # divides 12
WAVE_OPENS_DAY = 3  # never near a change of time (last Sundays of March and October)
WAVE_OPENS_HOUR = 8
WAVE_SECONDS = 10 * 24 * 3600
CLOSE_DAY, CLOSE_HOUR, CREDIT_DAY = 14, 18, 15  # published 14 April 18:00, credited 15 April
WINTER_OFFSET, SUMMER_OFFSET = "+01:00", "+02:00"  # Europe/Paris

# --- Producers ---------------------------------------------------------------------------------
DSN, FRANCE_TRAVAIL, URSSAF, OPERATOR = "dsn", "france-travail", "urssaf", "operator"
MARKETPLACE, AGEFIPH, ASP, CARSAT = "marketplace", "agefiph", "asp", "carsat"
EDEF = "edef"  # the employers' and funders' space of the marketplace
CNAV, INSEE, SNGI = "cnav", "insee", "sngi"  # pensions, deaths, identifier management
PORTAL = "portal"  # the holders' portal (conversions between counters)
QUALIFICATION_SOURCES = (OPERATOR, MARKETPLACE)  # a career adviser, or the holder
FRANCE_TRAVAIL_FUNDER_ID = "france-travail"
REGIONS = ("11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94")

# Order of one person's messages inside a wave: payroll, statuses, ..., identity last.
(
    RANK_EMPLOYMENT,
    RANK_RETRACTION,
    RANK_STATUS,
    RANK_CIVIC,
    RANK_TOPUP,
    RANK_CONVERSION,
    RANK_TRAINING,
    RANK_WITHDRAWAL,
    RANK_EXPOSURE,
    RANK_POINTS,
    RANK_LIFE,
    RANK_MERGE,
) = range(12)
ROUTES: dict[str, tuple[int, str]] = {  # type: rank inside a wave, usual producer
    "employment.declared": (RANK_EMPLOYMENT, DSN),
    "fact.retracted": (RANK_RETRACTION, DSN),
    "jobseeker.registered": (RANK_STATUS, FRANCE_TRAVAIL),
    "self_employment.declared": (RANK_STATUS, URSSAF),
    "qualification.declared": (RANK_STATUS, OPERATOR),
    "disability.recognised": (RANK_STATUS, AGEFIPH),
    "dif.registered": (RANK_STATUS, MARKETPLACE),
    "civic_engagement.declared": (RANK_CIVIC, ASP),
    "topup.granted": (RANK_TOPUP, EDEF),
    "cpf.conversion.requested": (RANK_CONVERSION, PORTAL),
    "training.ordered": (RANK_TRAINING, MARKETPLACE),
    "training.entered": (RANK_TRAINING, MARKETPLACE),
    "training.cancelled": (RANK_TRAINING, MARKETPLACE),
    "training.refunded": (RANK_TRAINING, MARKETPLACE),
    "topup.withdrawn": (RANK_WITHDRAWAL, EDEF),
    "hardship.exposure.declared": (RANK_EXPOSURE, CARSAT),
    "hardship.points.used": (RANK_POINTS, CARSAT),
    "person.retired": (RANK_LIFE, CNAV),
    "person.deceased": (RANK_LIFE, INSEE),
    "person.merged": (RANK_MERGE, SNGI),
}

# --- Persons -----------------------------------------------------------------------------------
BIRTH_FIRST, BIRTH_LAST = date(1953, 1, 1), date(2006, 12, 31)
WORK_START_AGE = (16, 25)
ADULT_AGE = 18
RETIREMENT_AGE = (62, 64)
RETIREMENT_REPORTED_PROBABILITY = 0.3  # full-rate retirements notified by the pension fund
DEATH_PROBABILITY = 0.003
DEATH_AFTER_START_DAYS = 30
SEX_DIGITS = ("1", "2")
NIA_DIGITS = {"1": "7", "2": "8"}
MAINLAND_DEPARTMENTS = tuple(f"{number:02d}" for number in range(1, 96) if number != 20)
CORSICA_PROBABILITY = 0.02
CORSICA_DEPARTMENTS = ("2A", "2B")
CORSICA_SPLIT_YEAR = 1976  # born in Corsica before 1976: department 20
CORSICA_BEFORE_SPLIT = "20"
ABROAD_DEPARTMENT = "99"
MERGE_PROBABILITY = 0.012  # arrives from abroad during the feed: NIA first, then the NIR
MERGE_NIA_YEARS = (1, 2)
MERGE_FIRST, MERGE_LAST = (1, 15), (MARCH, 31)
MERGE_LATE_FIX_PROBABILITY = 0.5  # a correction still about the NIA, after the merge

# --- Jobs --------------------------------------------------------------------------------------
# A fixed pool, whatever the number of persons: a person's employers (and so the content of
# their messages) do not depend on the size of the run.
EMPLOYER_POOL = 20_000
EMPLOYER_SKEW = 2.0  # indexes drawn as u ** skew: a few large employers, many small ones
EMPLOYER_SALT, ESAT_SALT, PROVIDER_SALT = "employer", "esat", "provider"
PROVIDERS = 300
SIRET_CACHE_SIZE = 1 << 14  # the large employers (drawn most often) stay cached
SIREN_BODY_DIGITS, NIC_BODY_DIGITS = 8, 4  # each followed by a Luhn digit: 9 + 5 = 14 digits
FULL_TIME = 1.0
PART_TIME_PROBABILITY = 0.3
PART_TIME_SHARE = (0.5, 0.87)  # 800-1400 h of 1607 over a whole year
STABILITY = (0.3, 0.95)  # chance that a year is one steady job
STEADY_SPLITS = (1, 2, 4)  # a steady job is declared in 1, 2 or 4 periods a year
STEADY_SPLIT_WEIGHTS = (4, 3, 3)
CONTRACT_COUNTS = (0, 1, 2, 3, 4)
CONTRACT_WEIGHTS = (12, 25, 30, 21, 12)  # short contracts in an unsteady year
SELF_EMPLOYED_CONTRACT_WEIGHTS = (60, 30, 10, 0, 0)
ESAT_PROBABILITY = 0.004
ESAT_SHARE = (0.6, 0.9)
FORFAIT_DAYS_PROBABILITY = 0.04
SELF_EMPLOYED_PROBABILITY = 0.08
SELF_EMPLOYED_YEARS = (1, 4)
SELF_EMPLOYED_MONTHS = (3, 12)
CONTRIBUTION_PAID_PROBABILITY = 0.9
JOBSEEKER_GAP_DAYS_MIN = 45
JOBSEEKER_PROBABILITY = 0.6
REGISTRATION_DELAY_DAYS_MAX = 15
# A year's payroll amended in the next spring, often after the year was closed (a regularisation):
# the hours of a period corrected, or a copy declared by mistake retracted.
CORRECTION_PROBABILITY = 0.06
COPY_PROBABILITY = 0.02
AMENDED_PROBABILITY = CORRECTION_PROBABILITY + COPY_PROBABILITY
LOG_NOT_AMENDED = math.log(1.0 - AMENDED_PROBABILITY)
CORRECTED_SHARE = (0.7, 1.2)
AMENDMENT_FIRST, AMENDMENT_LAST = (1, 15), (JUNE, 30)
MERGE_FIX_DELAY_DAYS = (14, 150)  # after the start of the wave following the merge

# --- Statuses ----------------------------------------------------------------------------------
LOW_QUALIFIED_PROBABILITY = 0.1
REQUALIFIED_PROBABILITY = 0.2
REQUALIFIED_AFTER_DAYS = 365
BOETH_PROBABILITY = 0.04
BOETH_LIMITED_PROBABILITY = 0.6
BOETH_YEARS = (1, 10)
DIF_PROBABILITY = 0.45
DIF_FULL_PROBABILITY = 0.4  # many still held the full 120 h
DIF_AMENDED_PROBABILITY = 0.05
CEC_PROBABILITY = 0.05
CEC_YEARS = (1, 3)
CEC_BELOW_THRESHOLD_PROBABILITY = 0.2
CEC_QUANTITY_SPREAD = 2  # above the threshold: up to twice it
VALIDATION_FIRST, VALIDATION_LAST = (MARCH, 1), (JUNE, 30)

# --- Hardship (C2P) ----------------------------------------------------------------------------
HARDSHIP_PROBABILITY = 0.07
HARDSHIP_YEARS = (2, 8)
HARDSHIP_FULL_YEAR_PROBABILITY = 0.8
HARDSHIP_JOBS = (
    ("night_work",),
    ("night_work", "alternating_shifts"),
    ("repetitive_work",),
    ("manual_handling", "awkward_postures", "noise"),
    ("vibrations", "noise"),
    ("chemical_agents", "extreme_temperatures"),
    ("hyperbaric",),
)
POINTS_USE_PROBABILITY = 0.3
POINTS_USE_MIN_YEARS = 2
POINTS_REQUEST_FIRST, POINTS_REQUEST_LAST = (2, 1), (11, 30)
RETIREMENT_USE_PROBABILITY = 0.4

# --- Trainings and top-ups ---------------------------------------------------------------------
TRAINING_COUNTS = (0, 1, 2, 3)
TRAINING_WEIGHTS = (50, 32, 13, 5)
FIRST_ORDER_AFTER_DAYS = 480  # some rights have been credited by then
CERTIFICATIONS = (  # code, usual price in EUR (illustrative codes)
    ("RS5635", 1400),  # driving licence
    ("RS6424", 250),  # English test
    ("RS5199", 1700),  # skills assessment
    ("RNCP35184", 3200),  # vocational diploma
    ("RS5091", 900),  # forklift licence
    ("RNCP34825", 2400),  # bookkeeping title
    ("RS6209", 600),  # office software
    ("RNCP36804", 4500),  # developer title
)
PRICE_SPREAD = (0.8, 1.2)
PRICE_STEP_CENTS = 1000  # prices in whole tens of euros
OVERSHOOT_PROBABILITY = 0.08  # an order beyond the rights: partly out of pocket or rejected
ESTIMATE_PRUDENCE = 0.8
UNSTEADY_RATIO = 0.45  # activity ratio of an unsteady year, roughly
ENTERED_PROBABILITY = 0.8
CANCELLED_PROBABILITY = 0.15  # the rest stay ordered (held)
REFUNDED_PROBABILITY = 0.04
PARTIAL_REFUND_PROBABILITY = 0.5
PARTIAL_REFUND_SHARE = (0.2, 0.8)
ENTRY_DELAY_DAYS = (7, 60)
CANCEL_DELAY_DAYS = (2, 30)
REFUND_DELAY_DAYS = (30, 120)
VOLUNTEER_TRAINING_PROBABILITY = 0.3  # among persons with civic engagement
TOPUP_PROBABILITY = 0.12
EMPLOYER_FUNDER, FRANCE_TRAVAIL_FUNDER, REGION_FUNDER = "employer", "france_travail", "region"
FUNDER_TYPES = (EMPLOYER_FUNDER, FRANCE_TRAVAIL_FUNDER, REGION_FUNDER)
FUNDER_WEIGHTS = (60, 25, 15)
EMPLOYER_KINDS = ("employer_voluntary", "agreement", "corrective", "dismissal_apc")
EMPLOYER_KIND_WEIGHTS = (60, 25, 10, 5)
TOPUP_AMOUNTS_EUR = {
    "employer_voluntary": (300, 2000),
    "agreement": (500, 2500),
    "corrective": (3000, 3000),
    "dismissal_apc": (3000, 5000),
    "france_travail": (500, 3000),
    "region": (500, 2500),
}
TOPUP_STEP_EUR = 10
GRANT_LEAD_DAYS = (1, 25)
EARMARK_PROBABILITY = 0.6
EXPIRY_DAYS = (365, 730)
REFUNDABLE_PROBABILITY = 0.5
WITHDRAWN_PROBABILITY = 0.5
WITHDRAWAL_DELAY_DAYS = (5, 40)
# Messages about an order go out from the top-up's grant to the refund or the withdrawal.
TRAINING_TAIL_DAYS = max(
    ENTRY_DELAY_DAYS[1] + REFUND_DELAY_DAYS[1], CANCEL_DELAY_DAYS[1] + WITHDRAWAL_DELAY_DAYS[1]
)


# --- Public agents and moves between sectors (rules §10) ------------------------------------
# Kinds of career: private only, public only, and moves between sectors in either direction.
SECTOR_KINDS = ("private", "public", "to_public", "to_private")
SECTOR_WEIGHTS = (78, 12, 5, 5)
SECTOR_SALT = "sector"  # the sector is drawn from its own stream: the other draws stay as they were
PUBLIC_SALT = "public"
PUBLIC_EMPLOYERS = 2_000  # hospitals, communes, ministries...
PUBLIC_POST_SHARES = ("1", "1", "1", "1", "1", "0.5", "0.7", "0.8")  # most posts are full time
PUBLIC_CATEGORIES = ("A", "B", "C")
PUBLIC_CATEGORY_WEIGHTS = (25, 30, 45)
SWITCH_AFTER_YEARS = (1, 6)  # years in the first sector before the move
PUBLIC_DIF_PROBABILITY = 0.5  # agents in post before 2017 with DIF hours left
PUBLIC_DIF_ON = date(2018, 11, 15)  # the employers' transfers became visible mid-November 2018
CONVERSION_PROBABILITY = 0.5  # among those who moved, once conversions are open
CONVERSION_DELAY_DAYS = (120, 900)  # after the move
PARTIAL_CONVERSION_PROBABILITY = 0.3
PARTIAL_CONVERSION_EUR = (200, 1500)
PARTIAL_CONVERSION_HOURS = (10, 60)
PUBLIC_ORDER_HOURS_MIN = 14
SAMPLE_YEARS_MIN = 4  # persons suggested to try: careers of at least that many years


@dataclass(frozen=True)
class DemoSettings:
    """What to generate: how many persons, which acquisition years, which seed."""

    persons: int = 1000
    year_from: int = 2015
    year_to: int = 2026  # inclusive; the last year is left open (not closed)
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.persons <= PERSONS_MAX:
            raise ValueError(f"persons must be between 1 and {PERSONS_MAX}: {self.persons}")
        if not FIRST_YEAR <= self.year_from <= self.year_to <= LAST_YEAR_MAX:
            raise ValueError(
                f"years must satisfy {FIRST_YEAR} <= from <= to <= {LAST_YEAR_MAX}: "
                f"{self.year_from}-{self.year_to}"
            )

    @property
    def dawn(self) -> date:
        return date(self.year_from, 1, 1)

    @property
    def horizon(self) -> date:
        return date(self.year_to, DECEMBER, 31)


def generate(
    settings: DemoSettings, progress: Callable[[int], object] | None = None
) -> Iterator[Message]:
    """The feed's messages (contract v1, JSON-ready dicts) in publication order. `progress`
    is called with 1 for each person of each wave (`progress_total` of them)."""
    closing = list(range(settings.year_from, settings.year_to))  # the last year stays open
    for year in range(settings.year_from, settings.year_to + 1):
        for first_month in range(1, MONTHS_PER_YEAR + 1, MONTHS_PER_WAVE):
            wave = _wave(year, first_month)
            while closing and _close_published(closing[0]) < wave.opens:
                yield _close_message(closing.pop(0))
            yield from _wave_messages(settings, wave, progress)


def progress_total(settings: DemoSettings) -> int:
    """How many times `generate` calls its `progress`: persons x waves."""
    waves = (settings.year_to - settings.year_from + 1) * (MONTHS_PER_YEAR // MONTHS_PER_WAVE)
    return settings.persons * waves


class PersonSummary(NamedTuple):
    """A person of the feed, as `cpa-ledger demo --list` shows them."""

    identifier: str  # the one that answers (the NIR after a merge)
    career: str  # private, public, to_public (private then public), to_private
    first_year: int
    last_year: int
    merged: bool  # first known by a temporary NIA, merged into the NIR

    def describe(self) -> str:
        kinds = {"private": "private sector", "public": "public agent",
                 "to_public": "private, then public agent",
                 "to_private": "public agent, then private"}
        text = f"{kinds[self.career]}, {self.first_year}-{self.last_year}"
        return text + ", NIA merged into the NIR" if self.merged else text


def persons(settings: DemoSettings) -> Iterator[PersonSummary]:
    """Every person of the feed who works within its years, in index order."""
    for index in range(settings.persons):
        life, plan = _person(settings, index)
        if plan is None:
            continue
        person = life.person
        yield PersonSummary(person.identity.nir, person.sector.kind, life.first.year,
                            life.last.year, person.identity.merged_on is not None)


def sample_persons(settings: DemoSettings, count: int = 5) -> list[PersonSummary]:
    """A few persons worth a look: the first long career of each kind (private, public, moves
    between sectors, a merged identifier), then the next long ones."""
    chosen: list[PersonSummary] = []
    wanted = ["private", "public", "to_public", "to_private", "merged"]
    spare: list[PersonSummary] = []
    for summary in persons(settings):
        long_enough = summary.last_year - summary.first_year >= SAMPLE_YEARS_MIN
        kind = "merged" if summary.merged else summary.career
        if kind in wanted and (long_enough or summary.merged):
            wanted.remove(kind)
            chosen.append(summary)
        elif long_enough and len(spare) < count:
            spare.append(summary)
        if not wanted or len(chosen) >= count:
            break
    return (chosen + spare)[:count]


def to_jsonl(messages: Iterable[Message]) -> Iterator[bytes]:
    """One JSON line (orjson, newline-terminated) per message."""
    for message in messages:
        yield orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE)


def summary_counts(messages: Iterable[Message]) -> Counter[str]:
    """How many messages of each type."""
    return Counter(message["type"] for message in messages)


# --- Waves ---------------------------------------------------------------------------------------


class _Wave(NamedTuple):
    """The publication of the facts of a few months."""

    first: date
    last: date
    opens: datetime  # Paris local time
    offset: str  # its UTC offset: no publication window straddles a change of time

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


class _Fact(NamedTuple):
    """A message before its publication time is known."""

    rank: int
    due: date  # the day the producer knew it: published in the wave after those months
    kind: str
    source: str
    message_id: str
    person: str
    data: Message
    supersedes: str | None = None


def _fact(
    kind: str,
    message_id: str,
    person: str,
    due: date,
    data: Message,
    *,
    source: str | None = None,
    supersedes: str | None = None,
) -> _Fact:
    rank, usual_source = ROUTES[kind]
    return _Fact(rank, due, kind, source or usual_source, message_id, person, data, supersedes)


def _wave(year: int, first_month: int) -> _Wave:
    last = _month_end(year, first_month + MONTHS_PER_WAVE - 1)
    following = last + ONE_DAY
    opens = datetime(following.year, following.month, WAVE_OPENS_DAY, WAVE_OPENS_HOUR)
    return _Wave(date(year, first_month, 1), last, opens, _paris_offset(opens.date()))


def _wave_messages(
    settings: DemoSettings, wave: _Wave, progress: Callable[[int], object] | None
) -> Iterator[Message]:
    for index in range(settings.persons):
        facts = _due_facts(settings, index, wave)
        if progress is not None:
            progress(1)
        if not facts:
            continue
        # The person's place in the wave depends on the person only, never on the run's size:
        # a message id names one message, whatever the number of persons generated.
        moment = wave.opens + timedelta(seconds=index * WAVE_SECONDS // PERSONS_MAX)
        published_at = f"{moment.isoformat()}{wave.offset}"
        facts.sort(key=_fact_order)
        for fact in facts:
            yield _envelope(fact, published_at)


def _due_facts(settings: DemoSettings, index: int, wave: _Wave) -> list[_Fact]:
    """The person's facts published in this wave (re-derived from the seed: nothing is kept)."""
    life, plan = _person(settings, index)
    if plan is None:
        return []
    person = life.person
    facts = _career_facts(life, plan, wave)
    year = wave.first.year
    if person.career.start.year <= year <= person.career.end.year:
        copied = any(a.year == year and a.share is None for a in plan.amendments)
        facts += _year_facts(person, _year_plan(settings, person, year), wave, copied=copied)
    for amendment in plan.amendments:
        if wave.covers(amendment.due):
            year_plan = _year_plan(settings, person, amendment.year)
            facts += _amendment_facts(person, year_plan, amendment)
    return facts


def _fact_order(fact: _Fact) -> tuple[int, date]:
    return fact.rank, fact.due


def _envelope(fact: _Fact, published_at: str) -> Message:
    message: Message = {
        "message_id": fact.message_id,
        "source": fact.source,
        "type": fact.kind,
        "version": MESSAGE_VERSION,
        "person": fact.person,
        "published_at": published_at,
        "data": fact.data,
    }
    if fact.supersedes is not None:
        message["supersedes"] = fact.supersedes
    return message


def _close_published(year: int) -> datetime:
    return datetime(year + 1, APRIL, CLOSE_DAY, CLOSE_HOUR)


def _close_message(year: int) -> Message:
    published = _close_published(year)
    return {
        "message_id": f"close:{year}",
        "source": OPERATOR,
        "type": "accrual.year.closed",
        "version": MESSAGE_VERSION,
        "published_at": f"{published.isoformat()}{_paris_offset(published.date())}",
        "data": {"year": year, "credited_on": date(year + 1, APRIL, CREDIT_DAY).isoformat()},
    }


def _paris_offset(day: date) -> str:
    """Summer time from the last Sunday of March to the last Sunday of October."""
    summer = _last_sunday(day.year, MARCH) <= day < _last_sunday(day.year, OCTOBER)
    return SUMMER_OFFSET if summer else WINTER_OFFSET


def _stream(settings: DemoSettings, index: int, part: int) -> _Draws:
    """The seeded draws of one part of one person's life: a distinct integer seed for every
    (seed, person, part), the same stream on every run and platform."""
    seed = settings.seed % SEED_MODULUS  # negative seeds too (Random would ignore the sign)
    return _Draws((seed * PERSONS_MAX + index) * STREAMS_PER_PERSON + part)


class _Draws(random.Random):
    """Seeded draws, each from a single `random()` call: several times faster than `randint`,
    `choice` and `choices`, whose exactness a demo does not need."""

    def below(self, count: int) -> int:
        return int(self.random() * count)

    def between(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def pick(self, values: Sequence[_T]) -> _T:
        return values[int(self.random() * len(values))]

    def day(self, first: date, last: date) -> date:
        """A day in [first, last]."""
        return date.fromordinal(first.toordinal() + self.below((last - first).days + 1))

    def weighted(self, values: Sequence[_T], weights: Sequence[int]) -> _T:
        point = self.random() * sum(weights)
        for value, weight in zip(values, weights, strict=True):
            point -= weight
            if point < 0:
                return value
        return values[-1]


# --- Dates ---------------------------------------------------------------------------------------


def _on(year: int, month_day: tuple[int, int]) -> date:
    return date(year, *month_day)


def _plus(day: date, days: int) -> date:
    return day + timedelta(days=days)


def _month_end(year: int, month: int) -> date:
    return date(year + month // MONTHS_PER_YEAR, month % MONTHS_PER_YEAR + 1, 1) - ONE_DAY


def _last_sunday(year: int, month: int) -> date:
    last = _month_end(year, month)
    return last - timedelta(days=(last.weekday() - SUNDAY) % DAYS_PER_WEEK)


def _quarter_first(year: int, quarter: int) -> date:
    return date(year, MONTHS_PER_QUARTER * quarter - 2, 1)


def _quarter_last(year: int, quarter: int) -> date:
    return _month_end(year, MONTHS_PER_QUARTER * quarter)


def _age(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


# --- Persons -------------------------------------------------------------------------------------


class _Identity(NamedTuple):
    nir: str
    nia: str | None  # the temporary identifier, used for facts before `nir_from_year`
    nir_from_year: int
    merged_on: date | None

    def on(self, day: date) -> str:
        """The identifier the producers use for a fact of that day."""
        if self.nia is not None and day.year < self.nir_from_year:
            return self.nia
        return self.nir


class _Career(NamedTuple):
    start: date  # first working day
    end: date  # last working day (retirement, death), possibly after the feed
    retires_on: date
    died_on: date | None
    employer: str  # SIRET of the main employer
    part_time: float  # share of full time (1.0: full time)
    stability: float  # chance that a year is one steady job
    splits: int  # periods a steady job is declared in
    esat: bool
    forfait_days: bool  # a manager counted in days (reference 218)
    self_employed: range  # years


class _Sector(NamedTuple):
    """Where the person works: the private sector, a public post (rules §10), or one then the
    other from `switch_year`."""

    kind: str
    switch_year: int  # first year in the second sector (moves only)
    employer: str  # the public employer's SIRET
    post_share: str  # of the public post (less than "1": temps non complet)
    category: str
    public_dif_hours: int  # 0: none
    conversion_on: date | None
    conversion_amount: int | None  # cents (euros to hours) or whole hours; None: all

    def public_in(self, year: int) -> bool:
        if self.kind == "public":
            return True
        if self.kind == "to_public":
            return year >= self.switch_year
        if self.kind == "to_private":
            return year < self.switch_year
        return False


PRIVATE = _Sector("private", 0, "", "1", "A", 0, None, None)


@dataclass(frozen=True, slots=True)
class _Person:
    index: int
    birth: date
    identity: _Identity
    career: _Career
    sector: _Sector = PRIVATE


@dataclass(frozen=True, slots=True)
class _Life:
    """What the career-long draws need to know."""

    settings: DemoSettings
    person: _Person
    first: date  # the career's first day within the feed's years
    last: date  # its last day within them


def _person(settings: DemoSettings, index: int) -> tuple[_Life, _CareerPlan | None]:
    """The person and the career-long draws (None: not at work within the feed's years)."""
    rng = _stream(settings, index, PROFILE_STREAM)
    birth = rng.day(BIRTH_FIRST, BIRTH_LAST)
    start, arrives = _work_start(rng, settings, birth)
    career = _career(rng, settings, birth, start)
    identity = _identity(rng, settings, index, birth, career, arrives)
    first, last = max(career.start, settings.dawn), min(career.end, settings.horizon)
    sector = _sector(settings, index, career, first, last)
    life = _Life(settings, _Person(index, birth, identity, career, sector), first, last)
    return life, _career_plan(rng, life) if first <= last else None


def _sector(settings: DemoSettings, index: int, career: _Career, first: date, last: date
            ) -> _Sector:
    """The person's sector(s), from a stream of its own (a string seed: the same on every run
    and platform)."""
    rng = _Draws(f"{settings.seed}:{index}:{SECTOR_SALT}")
    kind = rng.weighted(SECTOR_KINDS, SECTOR_WEIGHTS)
    if career.esat or first > last:
        return PRIVATE
    switch_year = 0
    if kind in ("to_public", "to_private"):
        low = first.year + SWITCH_AFTER_YEARS[0]
        high = min(last.year, first.year + SWITCH_AFTER_YEARS[1])
        if low > high:
            kind = "public" if kind == "to_private" else "private"
        else:
            switch_year = rng.between(low, high)
    if kind == "private":
        return PRIVATE
    employer = _siret(settings.seed, PUBLIC_SALT, rng.below(PUBLIC_EMPLOYERS))
    post_share = rng.pick(PUBLIC_POST_SHARES)
    category = rng.weighted(PUBLIC_CATEGORIES, PUBLIC_CATEGORY_WEIGHTS)
    sector = _Sector(kind, switch_year, employer, post_share, category, 0, None, None)
    dif_hours = 0
    before_2017 = career.start.year < figures.PUBLIC_FIRST_YEAR
    if (sector.public_in(figures.PUBLIC_FIRST_YEAR) and before_2017
            and first <= PUBLIC_DIF_ON <= last and rng.random() < PUBLIC_DIF_PROBABILITY):
        dif_hours = _dif_hours(rng, figures.PUBLIC_DIF_HOURS_MAX)
    conversion_on, amount = None, None
    if kind in ("to_public", "to_private") and rng.random() < CONVERSION_PROBABILITY:
        day = _plus(date(switch_year, 1, 1), rng.between(*CONVERSION_DELAY_DAYS))
        if figures.CONVERSIONS_FROM <= day <= last:
            conversion_on = day
            if rng.random() < PARTIAL_CONVERSION_PROBABILITY:
                amount = (rng.between(*PARTIAL_CONVERSION_EUR) * CENTS_PER_EURO
                          if kind == "to_public" else rng.between(*PARTIAL_CONVERSION_HOURS))
    return sector._replace(public_dif_hours=dif_hours, conversion_on=conversion_on,
                           conversion_amount=amount)


def _work_start(rng: _Draws, settings: DemoSettings, birth: date) -> tuple[date, bool]:
    """The first working day, and whether the person arrives from abroad during the feed."""
    if rng.random() < MERGE_PROBABILITY:
        first = max(settings.dawn, date(birth.year + ADULT_AGE, 1, 1))
        last = date(settings.year_to - MERGE_NIA_YEARS[1], DECEMBER, 31)  # merged in the feed
        if first <= last:
            return rng.day(first, last), True
    age = rng.between(*WORK_START_AGE)
    return rng.day(date(birth.year + age, 1, 1), date(birth.year + age, DECEMBER, 31)), False


def _career(rng: _Draws, settings: DemoSettings, birth: date, start: date) -> _Career:
    retires_on = _month_end(birth.year + rng.between(*RETIREMENT_AGE), birth.month) + ONE_DAY
    died_on = _death(rng, settings, start)
    end = min(retires_on, died_on or retires_on) - ONE_DAY
    esat = rng.random() < ESAT_PROBABILITY
    part_time = rng.uniform(*ESAT_SHARE) if esat else _part_time(rng)
    forfait_days = part_time == FULL_TIME and rng.random() < FORFAIT_DAYS_PROBABILITY
    employer = _employer(rng, settings, ESAT_SALT if esat else EMPLOYER_SALT)
    stability = rng.uniform(*STABILITY)
    splits = rng.weighted(STEADY_SPLITS, STEADY_SPLIT_WEIGHTS)
    self_employed = _self_employed_years(rng, settings, start, end)
    return _Career(
        start,
        end,
        retires_on,
        died_on,
        employer,
        part_time,
        stability,
        splits,
        esat,
        forfait_days,
        self_employed,
    )


def _death(rng: _Draws, settings: DemoSettings, start: date) -> date | None:
    if rng.random() >= DEATH_PROBABILITY:
        return None
    first = _plus(max(start, settings.dawn), DEATH_AFTER_START_DAYS)
    return rng.day(first, settings.horizon) if first <= settings.horizon else None


def _part_time(rng: _Draws) -> float:
    if rng.random() < PART_TIME_PROBABILITY:
        return rng.uniform(*PART_TIME_SHARE)
    return FULL_TIME


def _self_employed_years(rng: _Draws, settings: DemoSettings, start: date, end: date) -> range:
    if rng.random() >= SELF_EMPLOYED_PROBABILITY:
        return range(0)
    low = max(start.year, settings.year_from)
    first = rng.between(low, max(low, min(end.year, settings.year_to)))
    return range(first, first + rng.between(*SELF_EMPLOYED_YEARS))


def _identity(
    rng: _Draws,
    settings: DemoSettings,
    index: int,
    birth: date,
    career: _Career,
    arrives: bool,
) -> _Identity:
    sex = rng.pick(SEX_DIGITS)
    department = ABROAD_DEPARTMENT if arrives else _department(rng, birth)
    nir = with_key(_body(sex, birth, department, index))
    if not arrives:
        return _Identity(nir, None, 0, None)
    nia = with_key(_body(NIA_DIGITS[sex], birth, department, index))
    nir_from_year = career.start.year + rng.between(*MERGE_NIA_YEARS)
    merged_on = rng.day(_on(nir_from_year, MERGE_FIRST), _on(nir_from_year, MERGE_LAST))
    if nir_from_year > settings.year_to or merged_on > career.end:
        return _Identity(nia, None, 0, None)  # known only by the NIA within the feed
    return _Identity(nir, nia, nir_from_year, merged_on)


def _department(rng: _Draws, birth: date) -> str:
    if rng.random() >= CORSICA_PROBABILITY:
        return rng.pick(MAINLAND_DEPARTMENTS)
    if birth.year < CORSICA_SPLIT_YEAR:
        return CORSICA_BEFORE_SPLIT
    return rng.pick(CORSICA_DEPARTMENTS)


def _body(first_digit: str, birth: date, department: str, index: int) -> str:
    """13 characters: sex (or NIA) digit, birth year and month, department, commune, order."""
    commune, order = divmod(index, ORDERS_PER_COMMUNE)
    return (
        f"{first_digit}{birth.year % 100:02d}{birth.month:02d}{department}"
        f"{commune + 1:03d}{order + 1:03d}"
    )


def _employer(rng: _Draws, settings: DemoSettings, salt: str = EMPLOYER_SALT) -> str:
    return _siret(settings.seed, salt, int(EMPLOYER_POOL * rng.random() ** EMPLOYER_SKEW))


@functools.lru_cache(maxsize=SIRET_CACHE_SIZE)
def _siret(seed: int, salt: str, number: int) -> str:
    """A Luhn-valid SIRET (a Luhn-valid SIREN and an establishment number) for that number."""
    digest = hashlib.blake2b(f"{seed}:{salt}:{number}".encode(), digest_size=8).digest()
    digits = f"{int.from_bytes(digest, 'big'):020d}"
    siren = _luhn_completed(digits[:SIREN_BODY_DIGITS])
    return _luhn_completed(siren + digits[SIREN_BODY_DIGITS : SIREN_BODY_DIGITS + NIC_BODY_DIGITS])


def _luhn_completed(digits: str) -> str:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return f"{digits}{-total % 10}"


# --- Career-long draws ---------------------------------------------------------------------------


class _Dif(NamedTuple):
    hours: int
    registered_on: date


class _Civic(NamedTuple):
    activity: str
    year: int
    quantity: int
    main_quantity: int | None  # for activities with a threshold in the main organisation
    validated_on: date


class _Exposure(NamedTuple):
    year: int
    quarters: tuple[int, ...]
    factors: tuple[str, ...]


class _PointsUse(NamedTuple):
    use: str
    points: int
    requested_on: date


class _Outcome(NamedTuple):
    entered_on: date | None = None
    cancelled_on: date | None = None
    refunded_on: date | None = None
    refund_cents: int | None = None  # None: all of it


class _Grant(NamedTuple):
    source: str
    funder_type: str
    funder_id: str
    kind: str
    amount_eur: int
    granted_on: date
    expires_on: date | None = None  # earmarked for the training's certification until then
    refundable: bool = False
    withdrawn_on: date | None = None


class _Training(NamedTuple):
    tag: str  # `<person index>:<number>`: ends every message id about the training
    person: str
    ordered_on: date
    certification: str
    price_cents: int  # converted to whole hours (15 EUR/h) for orders before 2019
    provider: str
    volunteer: bool
    outcome: _Outcome
    grant: _Grant | None
    hours: int | None = None  # a public order (rules §10.5): whole hours, not a price


class _Amendment(NamedTuple):
    """The payroll of `year` amended on `due` (in a later batch): the hours of its first period
    corrected by `share`, or (share None) its copy, declared by mistake, retracted."""

    year: int
    due: date
    share: float | None


class _CareerPlan(NamedTuple):
    """Everything decided once for the whole career (the jobs are drawn year by year)."""

    retirement_reported: bool
    qualification_source: str
    qualification_days: tuple[date, ...]  # low-qualified from the first, no longer from a second
    disability: tuple[date, date | None] | None
    dif: tuple[_Dif, ...]  # a second registration replaces the first
    civic: tuple[_Civic, ...]
    exposures: tuple[_Exposure, ...]
    points_use: _PointsUse | None
    training_days: tuple[date, ...]  # the orders' days; the rest is drawn when a wave needs it
    amendments: tuple[_Amendment, ...]  # at most one a year


def _career_plan(rng: _Draws, life: _Life) -> _CareerPlan:
    # Every draw happens whatever the wave, so that each wave sees the same plan.
    retirement_reported = rng.random() < RETIREMENT_REPORTED_PROBABILITY
    qualification_source, qualification_days = _qualification(rng, life)
    disability = _disability(rng, life)
    dif = _dif(rng, life)
    civic = _civic(rng, life)
    exposures = _exposures(rng, life)
    points_use = _points_use(rng, life, exposures)
    training_days = _training_days(rng, life)
    return _CareerPlan(
        retirement_reported,
        qualification_source,
        qualification_days,
        disability,
        dif,
        civic,
        exposures,
        points_use,
        training_days,
        _amendments(rng, life),
    )


def _qualification(rng: _Draws, life: _Life) -> tuple[str, tuple[date, ...]]:
    """A low-qualification declaration, and for some a later one that ends it."""
    if rng.random() >= LOW_QUALIFIED_PROBABILITY:
        return OPERATOR, ()
    source = rng.pick(QUALIFICATION_SOURCES)
    declared_on = rng.day(life.first, life.last)
    later = _plus(declared_on, REQUALIFIED_AFTER_DAYS)
    if later <= life.last and rng.random() < REQUALIFIED_PROBABILITY:
        return source, (declared_on, rng.day(later, life.last))
    return source, (declared_on,)


def _disability(rng: _Draws, life: _Life) -> tuple[date, date | None] | None:
    if rng.random() >= BOETH_PROBABILITY:
        return None
    start = rng.day(life.first, life.last)
    if rng.random() >= BOETH_LIMITED_PROBABILITY:
        return start, None
    return start, _plus(start, rng.between(*BOETH_YEARS) * DAYS_PER_YEAR - 1)


def _dif(rng: _Draws, life: _Life) -> tuple[_Dif, ...]:
    """DIF hours registered by people who worked before 2015 (a few amend it later)."""
    first, last = max(DIF_OPENS, life.first), min(DIF_CLOSES, life.last)
    if life.person.career.start >= DIF_OPENS or first > last or rng.random() >= DIF_PROBABILITY:
        return ()
    registered = _Dif(_dif_hours(rng), rng.day(first, last))
    amendable = _wave_after(registered.registered_on)  # published in a later batch
    if amendable <= last and rng.random() < DIF_AMENDED_PROBABILITY:
        return registered, _Dif(_dif_hours(rng), rng.day(amendable, last))
    return (registered,)


def _dif_hours(rng: _Draws, maximum: int = DIF_HOURS_MAX) -> int:
    if rng.random() < DIF_FULL_PROBABILITY:
        return maximum
    return rng.between(1, maximum - 1)


def _civic(rng: _Draws, life: _Life) -> tuple[_Civic, ...]:
    """Consecutive years of one activity, validated each next spring; some below threshold."""
    first_year = max(CEC_FIRST_YEAR, life.first.year)
    if rng.random() >= CEC_PROBABILITY or first_year > life.last.year:
        return ()
    activity = rng.pick(CIVIC_ACTIVITIES)
    start = rng.between(first_year, life.last.year)
    stop = min(life.last.year + 1, start + rng.between(*CEC_YEARS))
    return tuple(_civic_year(rng, activity, year) for year in range(start, stop))


def _civic_year(rng: _Draws, activity: str, year: int) -> _Civic:
    threshold, main_threshold = CIVIC_THRESHOLDS[activity]
    if rng.random() < CEC_BELOW_THRESHOLD_PROBABILITY:
        quantity = rng.between(1, threshold - 1)
    else:
        quantity = rng.between(threshold, threshold * CEC_QUANTITY_SPREAD)
    main_quantity = None
    if main_threshold is not None:
        main = rng.between(main_threshold // 2, main_threshold * CEC_QUANTITY_SPREAD)
        main_quantity = min(quantity, main)
    validated_on = rng.day(_on(year + 1, VALIDATION_FIRST), _on(year + 1, VALIDATION_LAST))
    return _Civic(activity, year, quantity, main_quantity, validated_on)


def _exposures(rng: _Draws, life: _Life) -> tuple[_Exposure, ...]:
    """Hardship exposure over a few whole years of work, for one kind of job."""
    if rng.random() >= HARDSHIP_PROBABILITY:
        return ()
    years = _whole_years(life)
    if not years:
        return ()
    job = rng.pick(HARDSHIP_JOBS)
    start = rng.pick(years)
    stop = min(years.stop, start + rng.between(*HARDSHIP_YEARS))
    exposures = [_exposure(rng, job, year) for year in range(start, stop)]
    return tuple(exposure for exposure in exposures if exposure is not None)


def _whole_years(life: _Life) -> range:
    """The years the person worked from January to December."""
    first = life.first.year + (life.first != date(life.first.year, 1, 1))
    last = life.last.year - (life.last != date(life.last.year, DECEMBER, 31))
    return range(first, last + 1)


def _exposure(rng: _Draws, job: tuple[str, ...], year: int) -> _Exposure | None:
    drawn: tuple[int, ...] = QUARTERS
    if rng.random() >= HARDSHIP_FULL_YEAR_PROBABILITY:
        drawn = tuple(sorted(rng.sample(QUARTERS, rng.between(1, len(QUARTERS) - 1))))
    # Only quarters and factors in force on the whole quarter (the list changed in 2016, 2017).
    quarters = tuple(q for q in drawn if any(_in_force(factor, year, q) for factor in job))
    factors = tuple(f for f in job if all(_in_force(f, year, quarter) for quarter in quarters))
    return _Exposure(year, quarters, factors) if quarters and factors else None


def _in_force(factor: str, year: int, quarter: int) -> bool:
    since, until = FACTORS_IN_FORCE[factor]
    if since > _quarter_first(year, quarter):
        return False
    return until is None or _quarter_last(year, quarter) < until


def _points_use(rng: _Draws, life: _Life, exposures: tuple[_Exposure, ...]) -> _PointsUse | None:
    """For some, a use of points acquired in earlier years (already published)."""
    if len(exposures) < POINTS_USE_MIN_YEARS or rng.random() >= POINTS_USE_PROBABILITY:
        return None
    year = rng.between(exposures[1].year + 1, exposures[-1].year + 1)
    requested_on = rng.day(_on(year, POINTS_REQUEST_FIRST), _on(year, POINTS_REQUEST_LAST))
    birth = life.person.birth
    available = _points([exposure for exposure in exposures if exposure.year < year], birth)
    if requested_on > life.last or available < 1:
        return None
    retirement_allowed = (
        birth < NO_RESERVED_POINTS_BORN_BEFORE
        and _age(birth, requested_on) >= RETIREMENT_USE_AGE_MIN
        and available >= POINTS_BLOCK
    )
    if retirement_allowed and rng.random() < RETIREMENT_USE_PROBABILITY:
        points = min(available, RETIREMENT_POINTS_MAX) // POINTS_BLOCK * POINTS_BLOCK
        return _PointsUse("retirement", points, requested_on)
    return _PointsUse("training", rng.between(1, available), requested_on)


def _points(exposures: list[_Exposure], birth: date) -> int:
    """Points acquired, counted roughly as the rulebook does (§8)."""
    before = after = 0
    for exposure in exposures:
        for quarter in exposure.quarters:
            if _quarter_last(exposure.year, quarter) < POINTS_RULE_CHANGE:
                before += 1 if len(exposure.factors) == 1 else 2
            else:
                after += len(exposure.factors)
    times = 2 if birth < DOUBLE_POINTS_BORN_BEFORE else 1
    return min(POINTS_CAP_BEFORE_CHANGE, before * times) + after * times


def _training_days(rng: _Draws, life: _Life) -> tuple[date, ...]:
    """The days of a few orders, leaving time for their follow-ups before the career ends."""
    count = rng.weighted(TRAINING_COUNTS, TRAINING_WEIGHTS)
    if count == 0:
        return ()
    first = _plus(life.first, FIRST_ORDER_AFTER_DAYS)
    last = min(_plus(life.person.career.end, -TRAINING_TAIL_DAYS), life.settings.horizon)
    if first > last:
        return ()
    return tuple(sorted(rng.day(first, last) for _ in range(count)))


def _trainings(life: _Life, plan: _CareerPlan) -> list[_Training]:
    """The orders, each kept within what is left of the rights (drawn from their own stream,
    and only for the waves that may publish something about them)."""
    rng = _stream(life.settings, life.person.index, TRAININGS_STREAM)
    trainings = []
    spent_cents = spent_hours = 0
    for number, ordered_on in enumerate(plan.training_days):
        training: _Training | None
        if life.person.sector.public_in(ordered_on.year):
            budget_hours = _public_hours_estimate(life, ordered_on) - spent_hours
            training = _public_training(rng, life, number, ordered_on, budget_hours)
        else:
            budget_cents = _rights_estimate(life, plan.dif, ordered_on) - spent_cents
            training = _training(rng, life, number, ordered_on, budget_cents, bool(plan.civic))
        if training is None:
            continue
        trainings.append(training)
        if training.outcome.cancelled_on is None:
            spent_cents += training.price_cents
            spent_hours += training.hours or 0
    return trainings


def _public_training(
    rng: _Draws, life: _Life, number: int, ordered_on: date, budget_hours: int
) -> _Training | None:
    """An agent's order in hours from the public counter (rules §10.5), within a prudent
    estimate of the hours, except for a few."""
    overshoot = rng.random() < OVERSHOOT_PROBABILITY
    top = figures.PUBLIC_CEILING_HOURS if overshoot else budget_hours
    if top < PUBLIC_ORDER_HOURS_MIN:
        return None
    hours = rng.between(PUBLIC_ORDER_HOURS_MIN, top)
    certification, _ = rng.pick(CERTIFICATIONS)
    provider = _siret(life.settings.seed, PROVIDER_SALT, rng.below(PROVIDERS))
    outcome = _outcome(rng, ordered_on, 0)._replace(refund_cents=None)  # refunded in full
    person = life.person.identity.on(ordered_on)
    return _Training(f"{life.person.index}:{number}", person, ordered_on, certification, 0,
                     provider, False, outcome, None, hours)


def _public_hours_estimate(life: _Life, day: date) -> int:
    """A prudent guess of the public counter on `day`, in whole hours."""
    sector = life.person.sector
    first = max(life.first.year, figures.PUBLIC_FIRST_YEAR)
    closed = range(first, min(day.year, life.settings.year_to))
    years = [y for y in closed if sector.public_in(y) and date(y + 1, APRIL, CREDIT_DAY) <= day]
    total = len(years) * figures.PUBLIC_HOURS_ACCRUAL * float(sector.post_share)
    if sector.public_dif_hours and day >= PUBLIC_DIF_ON:
        total += sector.public_dif_hours
    return int(min(total, figures.PUBLIC_CEILING_HOURS) * ESTIMATE_PRUDENCE)


def _training(
    rng: _Draws,
    life: _Life,
    number: int,
    ordered_on: date,
    budget_cents: int,
    volunteer: bool,
) -> _Training | None:
    offer = _grant_offer(rng, life, ordered_on)
    means_cents = budget_cents + (offer.amount_eur * CENTS_PER_EURO if offer else 0)
    priced = _priced(rng, means_cents)
    if priced is None:
        return None
    certification, price_cents = priced
    provider = _siret(life.settings.seed, PROVIDER_SALT, rng.below(PROVIDERS))
    volunteer_training = volunteer and rng.random() < VOLUNTEER_TRAINING_PROBABILITY
    outcome = _outcome(rng, ordered_on, price_cents)
    grant = None if offer is None else _grant_terms(rng, offer, outcome)
    person = life.person.identity.on(ordered_on)
    return _Training(
        f"{life.person.index}:{number}",
        person,
        ordered_on,
        certification,
        price_cents,
        provider,
        volunteer_training,
        outcome,
        grant,
    )


def _rights_estimate(life: _Life, dif: tuple[_Dif, ...], day: date) -> int:
    """A prudent guess of the rights available on `day`, in cents (years credited by then)."""
    career = life.person.career
    ratio = career.part_time * (career.stability + (1 - career.stability) * UNSTEADY_RATIO)
    sector = life.person.sector
    closed = range(life.first.year, min(day.year, life.settings.year_to))
    credited = [year for year in closed if date(year + 1, APRIL, CREDIT_DAY) <= day
                and not sector.public_in(year)]
    total = min(EUR_CEILING * CENTS_PER_EURO, sum(_accrual(year, ratio) for year in credited))
    if dif and dif[0].registered_on <= day and sector.kind in ("private", "to_public"):
        total += dif[-1].hours * EUR_PER_HOUR * CENTS_PER_EURO
    return int(total * ESTIMATE_PRUDENCE)


def _accrual(year: int, ratio: float) -> int:
    """The standard accrual of a year at that activity ratio, in cents."""
    if year < EUR_FROM.year:
        return round(HOURS_ACCRUAL * ratio) * EUR_PER_HOUR * CENTS_PER_EURO
    return round(EUR_ACCRUAL * min(1.0, ratio / HALF_TIME) * CENTS_PER_EURO)


def _priced(rng: _Draws, means_cents: int) -> tuple[str, int] | None:
    """A certification and its price: within the means, except for a few orders."""
    overshoot = rng.random() < OVERSHOOT_PROBABILITY
    choices = [c for c in CERTIFICATIONS if overshoot or c[1] * CENTS_PER_EURO <= means_cents]
    if not choices:
        return None
    certification, usual_eur = rng.pick(choices)
    price = usual_eur * CENTS_PER_EURO * rng.uniform(*PRICE_SPREAD)
    if not overshoot:
        price = min(price, means_cents)
    return certification, max(PRICE_STEP_CENTS, int(price) // PRICE_STEP_CENTS * PRICE_STEP_CENTS)


def _outcome(rng: _Draws, ordered_on: date, price_cents: int) -> _Outcome:
    """Entered (and a few refunded, some partly), cancelled, or still held."""
    draw = rng.random()
    if draw >= ENTERED_PROBABILITY + CANCELLED_PROBABILITY:
        return _Outcome()
    if draw >= ENTERED_PROBABILITY:
        return _Outcome(cancelled_on=_plus(ordered_on, rng.between(*CANCEL_DELAY_DAYS)))
    entered_on = _plus(ordered_on, rng.between(*ENTRY_DELAY_DAYS))
    if rng.random() >= REFUNDED_PROBABILITY:
        return _Outcome(entered_on=entered_on)
    refunded_on = _plus(entered_on, rng.between(*REFUND_DELAY_DAYS))
    refund_cents = None
    if ordered_on >= EUR_FROM and rng.random() < PARTIAL_REFUND_PROBABILITY:
        refund_cents = round(price_cents * rng.uniform(*PARTIAL_REFUND_SHARE))
    return _Outcome(entered_on, None, refunded_on, refund_cents)


def _grant_offer(rng: _Draws, life: _Life, ordered_on: date) -> _Grant | None:
    """A top-up granted shortly before the order by the employer, France Travail or a region."""
    if rng.random() >= TOPUP_PROBABILITY:
        return None
    funder_type = rng.weighted(FUNDER_TYPES, FUNDER_WEIGHTS)
    source, funder_id, kind = EDEF, life.person.career.employer, funder_type
    if funder_type == EMPLOYER_FUNDER:
        kind = rng.weighted(EMPLOYER_KINDS, EMPLOYER_KIND_WEIGHTS)
    elif funder_type == FRANCE_TRAVAIL_FUNDER:
        source, funder_id = FRANCE_TRAVAIL, FRANCE_TRAVAIL_FUNDER_ID
    else:
        funder_id = f"region-{rng.pick(REGIONS)}"
    low, high = TOPUP_AMOUNTS_EUR[kind]
    amount_eur = rng.between(low // TOPUP_STEP_EUR, high // TOPUP_STEP_EUR) * TOPUP_STEP_EUR
    granted_on = max(life.first, _plus(ordered_on, -rng.between(*GRANT_LEAD_DAYS)))
    return _Grant(source, funder_type, funder_id, kind, amount_eur, granted_on)


def _grant_terms(rng: _Draws, offer: _Grant, outcome: _Outcome) -> _Grant:
    """Earmark and expiry for some grants from 2025-04-17; withdrawal of some unused ones."""
    grant = offer
    if offer.granted_on >= EARMARKS_FROM and rng.random() < EARMARK_PROBABILITY:
        expires_on = _plus(offer.granted_on, rng.between(*EXPIRY_DAYS))
        grant = grant._replace(
            expires_on=expires_on, refundable=rng.random() < REFUNDABLE_PROBABILITY
        )
    if outcome.cancelled_on is not None and rng.random() < WITHDRAWN_PROBABILITY:
        withdrawn_on = _plus(outcome.cancelled_on, rng.between(*WITHDRAWAL_DELAY_DAYS))
        grant = grant._replace(withdrawn_on=withdrawn_on)
    return grant


def _amendments(rng: _Draws, life: _Life) -> tuple[_Amendment, ...]:
    """Years whose payroll is amended (each year with AMENDED_PROBABILITY)."""
    merge_fix = _merge_fix(rng, life)
    amendments = [] if merge_fix is None else [merge_fix]
    last_year = min(life.last.year, life.settings.year_to - 1)
    # Geometric gaps between amended years: one draw per amendment, not one per year.
    year = life.first.year + _gap(rng)
    while year <= last_year:
        due = rng.day(_on(year + 1, AMENDMENT_FIRST), _on(year + 1, AMENDMENT_LAST))
        corrected = rng.random() < CORRECTION_PROBABILITY / AMENDED_PROBABILITY
        share = rng.uniform(*CORRECTED_SHARE) if corrected else None
        if due <= life.last and (merge_fix is None or year != merge_fix.year):
            amendments.append(_Amendment(year, due, share))
        year += 1 + _gap(rng)
    return tuple(amendments)


def _gap(rng: _Draws) -> int:
    """Years skipped before the next amended one."""
    return int(math.log(1.0 - rng.random()) / LOG_NOT_AMENDED)


def _merge_fix(rng: _Draws, life: _Life) -> _Amendment | None:
    """For some merged persons, a correction about the NIA's last year, sent after the merge."""
    identity = life.person.identity
    if identity.merged_on is None or rng.random() >= MERGE_LATE_FIX_PROBABILITY:
        return None
    after = _wave_after(identity.merged_on)
    due = rng.day(_plus(after, MERGE_FIX_DELAY_DAYS[0]), _plus(after, MERGE_FIX_DELAY_DAYS[1]))
    year = identity.nir_from_year - 1
    if year < life.first.year or due > life.last:
        return None
    return _Amendment(year, due, rng.uniform(*CORRECTED_SHARE))


def _wave_after(day: date) -> date:
    """The first day covered by the wave after the one that publishes `day`'s facts."""
    month = (day.month - 1) // MONTHS_PER_WAVE * MONTHS_PER_WAVE + MONTHS_PER_WAVE + 1
    return date(day.year + (month - 1) // MONTHS_PER_YEAR, (month - 1) % MONTHS_PER_YEAR + 1, 1)


# --- Career-long messages ------------------------------------------------------------------------


def _career_facts(life: _Life, plan: _CareerPlan, wave: _Wave) -> list[_Fact]:
    person = life.person
    facts = _lifecycle_facts(person, plan, wave)
    facts += _status_facts(person, plan, wave)
    facts += _civic_facts(person, plan, wave)
    if person.sector.kind == "private":  # C2P does not apply to public-law periods (§10.6)
        facts += _hardship_facts(person, plan, wave)
    days = plan.training_days
    if days and _overlaps(
        wave, _plus(days[0], -GRANT_LEAD_DAYS[1]), _plus(days[-1], TRAINING_TAIL_DAYS)
    ):
        for training in _trainings(life, plan):
            facts += _training_facts(training, wave)
    return facts


def _overlaps(wave: _Wave, first: date, last: date) -> bool:
    return first <= wave.last and wave.first <= last


def _lifecycle_facts(person: _Person, plan: _CareerPlan, wave: _Wave) -> list[_Fact]:
    """A full-rate retirement notified by the pension fund, a death, a merge of identifiers."""
    career, identity, index = person.career, person.identity, person.index
    retires_on, died_on, merged_on = career.retires_on, career.died_on, identity.merged_on
    facts = []
    alive = died_on is None or retires_on < died_on
    if plan.retirement_reported and alive and wave.covers(retires_on):
        data = {"retired_on": retires_on.isoformat(), "full_rate": True}
        person_id = identity.on(retires_on)
        facts.append(_fact("person.retired", f"retired:{index}", person_id, retires_on, data))
    if died_on is not None and wave.covers(died_on):
        data = {"died_on": died_on.isoformat()}
        person_id = identity.on(died_on)
        facts.append(_fact("person.deceased", f"deceased:{index}", person_id, died_on, data))
    if merged_on is not None and wave.covers(merged_on):
        data = {"absorbed": identity.nia, "merged_on": merged_on.isoformat()}
        facts.append(_fact("person.merged", f"merged:{index}", identity.nir, merged_on, data))
    return facts


def _status_facts(person: _Person, plan: _CareerPlan, wave: _Wave) -> list[_Fact]:
    """Low qualification, disability (BOETH), DIF registrations."""
    facts = [
        _qualification_fact(person, plan.qualification_source, number, day)
        for number, day in enumerate(plan.qualification_days)
        if wave.covers(day)
    ]
    if plan.disability is not None and wave.covers(plan.disability[0]):
        facts.append(_disability_fact(person, *plan.disability))
    private_dif = person.sector.kind in ("private", "to_public")
    for number, dif in enumerate(plan.dif):
        if private_dif and wave.covers(dif.registered_on):
            facts.append(_dif_fact(person, number, dif))
    sector = person.sector
    if sector.public_dif_hours and wave.covers(PUBLIC_DIF_ON):
        data = {"hours": format_hundredths(sector.public_dif_hours * HUNDREDTHS_PER_HOUR),
                "registered_on": PUBLIC_DIF_ON.isoformat(), "regime": "public"}
        person_id = person.identity.on(PUBLIC_DIF_ON)
        facts.append(_fact("dif.registered", f"dif:{person.index}:public", person_id,
                           PUBLIC_DIF_ON, data, source=DSN))
    if sector.conversion_on is not None and wave.covers(sector.conversion_on):
        facts.append(_conversion_fact(person, sector, sector.conversion_on))
    return facts


def _conversion_fact(person: _Person, sector: _Sector, day: date) -> _Fact:
    """The holder converts towards the sector they moved to (rules §10.4)."""
    to_public = sector.kind == "to_public"
    data: Message = {
        "request_id": f"conversion:{person.index}",
        "direction": "euros_to_hours" if to_public else "hours_to_euros",
        "principal_activity": "public" if to_public else "private",
        "requested_on": day.isoformat(),
    }
    if sector.conversion_amount is not None:
        scale = 1 if to_public else HUNDREDTHS_PER_HOUR
        data["amount"] = format_hundredths(sector.conversion_amount * scale)
    message_id = f"conversion:{person.index}"
    person_id = person.identity.on(day)
    return _fact("cpf.conversion.requested", message_id, person_id, day, data)


def _qualification_fact(person: _Person, source: str, number: int, day: date) -> _Fact:
    """The first declaration says low-qualified; a second one ends it."""
    data = {"low_qualified": number == 0, "declared_on": day.isoformat()}
    message_id = f"qualification:{person.index}:{number}"
    person_id = person.identity.on(day)
    return _fact("qualification.declared", message_id, person_id, day, data, source=source)


def _disability_fact(person: _Person, start: date, end: date | None) -> _Fact:
    data = {"from": start.isoformat()}
    if end is not None:
        data["to"] = end.isoformat()
    person_id = person.identity.on(start)
    return _fact("disability.recognised", f"boeth:{person.index}", person_id, start, data)


def _dif_fact(person: _Person, number: int, dif: _Dif) -> _Fact:
    data = {
        "hours": format_hundredths(dif.hours * HUNDREDTHS_PER_HOUR),
        "registered_on": dif.registered_on.isoformat(),
    }
    supersedes = f"dif:{person.index}:{number - 1}" if number else None
    message_id = f"dif:{person.index}:{number}"
    person_id = person.identity.on(dif.registered_on)
    return _fact(
        "dif.registered", message_id, person_id, dif.registered_on, data, supersedes=supersedes
    )


def _civic_facts(person: _Person, plan: _CareerPlan, wave: _Wave) -> list[_Fact]:
    facts = []
    for civic in plan.civic:
        if not wave.covers(civic.validated_on):
            continue
        data = {"activity": civic.activity, "year": civic.year, "quantity": str(civic.quantity)}
        if civic.main_quantity is not None:
            data["quantity_main_organisation"] = str(civic.main_quantity)
        data["validated_on"] = civic.validated_on.isoformat()
        person_id = person.identity.on(date(civic.year, DECEMBER, 31))
        message_id = f"cec:{person.index}:{civic.year}"
        facts.append(
            _fact("civic_engagement.declared", message_id, person_id, civic.validated_on, data)
        )
    return facts


def _hardship_facts(person: _Person, plan: _CareerPlan, wave: _Wave) -> list[_Fact]:
    """Exposures, declared with the payroll of the year's end; a use of points."""
    facts = []
    for exposure in plan.exposures:
        year_end = date(exposure.year, DECEMBER, 31)
        if wave.covers(year_end):
            facts.append(_exposure_fact(person, exposure, year_end))
    use = plan.points_use
    if use is not None and wave.covers(use.requested_on):
        data = {
            "use": use.use,
            "points": use.points,
            "requested_on": use.requested_on.isoformat(),
            "birth_date": person.birth.isoformat(),
        }
        person_id = person.identity.on(use.requested_on)
        message_id = f"c2p:{person.index}:use"
        facts.append(_fact("hardship.points.used", message_id, person_id, use.requested_on, data))
    return facts


def _exposure_fact(person: _Person, exposure: _Exposure, year_end: date) -> _Fact:
    data = {
        "employer": person.career.employer,
        "year": exposure.year,
        "quarters": list(exposure.quarters),
        "factors": list(exposure.factors),
        "birth_date": person.birth.isoformat(),
    }
    message_id = f"c2p:{person.index}:{exposure.year}"
    person_id = person.identity.on(year_end)
    return _fact("hardship.exposure.declared", message_id, person_id, year_end, data)


def _training_facts(training: _Training, wave: _Wave) -> list[_Fact]:
    facts = [] if training.grant is None else _grant_facts(training, training.grant, wave)
    if wave.covers(training.ordered_on):
        facts.append(_order_fact(training))
    outcome, tag = training.outcome, training.tag
    steps = (
        ("entered", outcome.entered_on),
        ("cancelled", outcome.cancelled_on),
        ("refunded", outcome.refunded_on),
    )
    for step, day in steps:
        if day is None or not wave.covers(day):
            continue
        data = {"order_id": f"order:{tag}", f"{step}_on": day.isoformat()}
        if step == "refunded" and outcome.refund_cents is not None:
            data["amount_eur"] = format_hundredths(outcome.refund_cents)
        facts.append(_fact(f"training.{step}", f"{step}:{tag}", training.person, day, data))
    return facts


def _order_fact(training: _Training) -> _Fact:
    if training.hours is not None:
        amount = {"hours": format_hundredths(training.hours * HUNDREDTHS_PER_HOUR),
                  "regime": "public"}
    else:
        amount = _amount("price_eur", training.price_cents, training.ordered_on)
    data: Message = {
        "order_id": f"order:{training.tag}",
        "certification": training.certification,
        "provider": training.provider,
        **amount,
        "ordered_on": training.ordered_on.isoformat(),
    }
    if training.volunteer:
        data["volunteer_training"] = True
    message_id = f"order:{training.tag}"
    return _fact("training.ordered", message_id, training.person, training.ordered_on, data)


def _amount(eur_field: str, cents: int, day: date) -> dict[str, str]:
    """An amount in EUR from 2019, in whole hours (15 EUR/h) before."""
    if day >= EUR_FROM:
        return {eur_field: format_hundredths(cents)}
    hours = max(1, round(cents / (EUR_PER_HOUR * CENTS_PER_EURO)))
    return {"hours": format_hundredths(hours * HUNDREDTHS_PER_HOUR)}


def _grant_facts(training: _Training, grant: _Grant, wave: _Wave) -> list[_Fact]:
    person_id, source = training.person, grant.source
    facts = []
    if wave.covers(grant.granted_on):
        data = _grant_data(training, grant)
        message_id, day = f"topup:{training.tag}", grant.granted_on
        facts.append(_fact("topup.granted", message_id, person_id, day, data, source=source))
    if grant.withdrawn_on is not None and wave.covers(grant.withdrawn_on):
        message_id, day = f"withdrawal:{training.tag}", grant.withdrawn_on
        data = {"grant_id": f"grant:{training.tag}", "withdrawn_on": day.isoformat()}
        facts.append(_fact("topup.withdrawn", message_id, person_id, day, data, source=source))
    return facts


def _grant_data(training: _Training, grant: _Grant) -> Message:
    data: Message = {
        "grant_id": f"grant:{training.tag}",
        "funder_type": grant.funder_type,
        "funder_id": grant.funder_id,
        "kind": grant.kind,
        **_amount("amount_eur", grant.amount_eur * CENTS_PER_EURO, grant.granted_on),
        "granted_on": grant.granted_on.isoformat(),
    }
    if grant.expires_on is not None:
        data["earmarked_certifications"] = [training.certification]
        data["expires_on"] = grant.expires_on.isoformat()
        data["refundable"] = grant.refundable
    return data


# --- One year of work ----------------------------------------------------------------------------


class _Period(NamedTuple):
    start: date
    end: date
    employer: str
    worked: int  # hundredths of an hour (of a day for managers counted in days)


class _YearPlan(NamedTuple):
    year: int
    periods: list[_Period]
    spells: list[tuple[date, date]]  # job-seeker registrations
    self_employment: tuple[int, bool] | None  # months active, contribution paid
    last: date  # the last working day of the year


def _year_plan(settings: DemoSettings, person: _Person, year: int) -> _YearPlan:
    career = person.career
    first = max(career.start, date(year, 1, 1))
    last = min(career.end, date(year, DECEMBER, 31))
    rng = _stream(settings, person.index, FIRST_YEAR_STREAM + year - FIRST_YEAR)
    # Some work in the career's first year, and in a merged person's first year under the NIR.
    must_work = first == career.start or year == person.identity.nir_from_year
    periods = _periods(rng, settings, career, first, last, must_work=must_work)
    spells = _spells(rng, career, periods, first, last)
    self_employment = None
    if year in career.self_employed and not person.sector.public_in(year):
        months = min(last.month - first.month + 1, rng.between(*SELF_EMPLOYED_MONTHS))
        self_employment = months, rng.random() < CONTRIBUTION_PAID_PROBABILITY
    return _YearPlan(year, periods, spells, self_employment, last)


def _periods(
    rng: _Draws,
    settings: DemoSettings,
    career: _Career,
    first: date,
    last: date,
    *,
    must_work: bool,
) -> list[_Period]:
    """One steady job, or a few short contracts with gaps (fewer when self-employed)."""
    if career.esat:
        return [_period(career, career.employer, first, last)]
    if first.year in career.self_employed:
        count = rng.weighted(CONTRACT_COUNTS, SELF_EMPLOYED_CONTRACT_WEIGHTS)
    elif rng.random() < career.stability:
        return _steady_periods(career, first, last)
    else:
        count = rng.weighted(CONTRACT_COUNTS, CONTRACT_WEIGHTS)
    span_days = (last - first).days + 1
    count = min(max(count, int(must_work)), span_days // 2)
    bounds = sorted(rng.sample(range(span_days), 2 * count))
    return [
        _period(career, _employer(rng, settings), _plus(first, start), _plus(first, end))
        for start, end in zip(bounds[::2], bounds[1::2], strict=True)
    ]


def _steady_periods(career: _Career, first: date, last: date) -> list[_Period]:
    """One job all year, declared in one, two or four periods."""
    months = MONTHS_PER_YEAR // career.splits
    periods = []
    for piece in range(career.splits):
        start = max(first, date(first.year, piece * months + 1, 1))
        end = min(last, _month_end(first.year, (piece + 1) * months))
        if start <= end:
            periods.append(_period(career, career.employer, start, end))
    return periods


def _period(career: _Career, employer: str, start: date, end: date) -> _Period:
    days = (end - start).days + 1
    reference = _reference(career)
    worked = min(reference, reference * career.part_time * days / DAYS_PER_YEAR)
    if career.forfait_days:
        worked = round(worked)  # whole days
    return _Period(start, end, employer, round(worked * HUNDREDTHS_PER_HOUR))


def _reference(career: _Career) -> int:
    return FORFAIT_REFERENCE_DAYS if career.forfait_days else REFERENCE_HOURS


def _corrected(career: _Career, period: _Period, share: float) -> _Period:
    whole = round(period.worked * share / HUNDREDTHS_PER_HOUR) * HUNDREDTHS_PER_HOUR
    return period._replace(worked=min(whole, _reference(career) * HUNDREDTHS_PER_HOUR))


def _spells(
    rng: _Draws, career: _Career, periods: list[_Period], first: date, last: date
) -> list[tuple[date, date]]:
    """Job-seeker registrations for some long gaps between contracts (or a year without work)."""
    if periods:
        gaps = [(a.end + ONE_DAY, b.start - ONE_DAY) for a, b in itertools.pairwise(periods)]
    else:
        gaps = [] if first.year in career.self_employed else [(first, last)]
    spells = []
    for gap_first, gap_last in gaps:
        if (gap_last - gap_first).days < JOBSEEKER_GAP_DAYS_MIN:
            continue
        if rng.random() < JOBSEEKER_PROBABILITY:
            registered = _plus(gap_first, rng.between(0, REGISTRATION_DELAY_DAYS_MAX))
            spells.append((registered, gap_last))
    return spells


# --- One year's messages -------------------------------------------------------------------------


def _year_facts(person: _Person, plan: _YearPlan, wave: _Wave, *, copied: bool) -> list[_Fact]:
    """The year's payroll declarations (the first one twice if `copied`), job-seeker spells and
    self-employment, as far as this wave publishes them."""
    facts = []
    for number, period in enumerate(plan.periods):
        if wave.covers(period.end):
            message_id = f"dsn:{person.index}:{plan.year}:{number}"
            facts.append(_employment_fact(person, period, message_id, period.end))
            if copied and number == 0:
                facts.append(_employment_fact(person, period, f"{message_id}:copy", period.end))
    for number, (registered, gap_last) in enumerate(plan.spells):
        if wave.covers(gap_last):
            data = {"from": registered.isoformat(), "to": gap_last.isoformat()}
            message_id = f"jobseeker:{person.index}:{plan.year}:{number}"
            person_id = person.identity.on(registered)
            facts.append(_fact("jobseeker.registered", message_id, person_id, gap_last, data))
    if plan.self_employment is not None and wave.covers(plan.last):
        facts.append(_self_employment_fact(person, plan, *plan.self_employment))
    return facts


def _employment_fact(
    person: _Person, period: _Period, message_id: str, due: date, supersedes: str | None = None
) -> _Fact:
    data = {
        "employer": period.employer,
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "hours_worked": format_hundredths(period.worked),
        "reference_hours": str(_reference(person.career)),
        "regime": "esat" if person.career.esat else "private",
    }
    sector = person.sector
    if sector.public_in(period.start.year):
        # A public post (rules §10.2): the hours are sent as usual and ignored; temps partiel
        # counts as full time, a post of less than full time gives its share.
        data.update({"employer": sector.employer, "regime": "public",
                     "category": sector.category})
        if sector.post_share != "1":
            data["post_share"] = sector.post_share
    person_id = person.identity.on(period.end)
    return _fact("employment.declared", message_id, person_id, due, data, supersedes=supersedes)


def _self_employment_fact(person: _Person, plan: _YearPlan, months: int, paid: bool) -> _Fact:
    data = {"year": plan.year, "months_active": months, "contribution_paid": paid}
    message_id = f"urssaf:{person.index}:{plan.year}"
    person_id = person.identity.on(plan.last)
    return _fact("self_employment.declared", message_id, person_id, plan.last, data)


def _amendment_facts(person: _Person, plan: _YearPlan, amendment: _Amendment) -> list[_Fact]:
    """The correction of the year's first period, or the retraction of its copy."""
    if not plan.periods:
        return []
    original = f"dsn:{person.index}:{plan.year}:0"
    period, due = plan.periods[0], amendment.due
    if amendment.share is None:
        data = {"retracts": f"{original}:copy", "retracted_on": due.isoformat()}
        person_id = person.identity.on(period.end)
        return [_fact("fact.retracted", f"{original}:copy:retraction", person_id, due, data)]
    corrected = _corrected(person.career, period, amendment.share)
    return [_employment_fact(person, corrected, f"{original}:fix", due, original)]
