"""Synthetic feeds for `cpa-ledger demo`: realistic fragmented careers, seeded and deterministic.

`generate(DemoSettings(...))` yields contract messages (JSON-ready dicts, contract v1) in feed
order. It is pure: no I/O, no clock; the same settings always give the same feed, byte for byte
through `to_jsonl`.

What a feed holds: careers from `year_from` with several employers a year, part time (often
800-1400 h of 1607), short contracts and gaps, job-seeker spells, self-employed years,
low-qualification and disability (BOETH) declarations, a few ESAT workers and managers counted in
days, DIF registrations, civic engagement (some below the threshold), hardship (C2P) exposures and
uses of points, top-ups (earmarked ones from 2025-04-17), training orders (most entered, some
cancelled, a few refunded; kept mostly within a rough estimate of the person's rights, a few beyond
it), payroll corrections and retractions (some after the year was closed), a few full-rate
retirements and deaths, Corsican births (2A/2B), and for about 1 % of persons a temporary NIA
later merged into the NIR (with some late messages still about the NIA).
Size: about 25 messages per person on average over 2015-2026 (the target is 20-40), so the demo's
100 000 persons make about 2.5 million messages.

Feed order: the facts of each calendar quarter are published in a ten-day window early in the next
quarter (the producers' batches), person after person, so `published_at` never decreases. The
operator closes year Y on 14 April Y+1 (`credited_on` 15 April); the last year stays open.

Memory stays flat whatever the number of persons: nothing is kept between persons. In every wave a
person's profile is re-derived from `Random(seed, index)` and that year's jobs from
`Random(seed, index, year)`, and only the messages due in that wave are built.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from ledger.identity import with_key
from ledger.money import CENTS_PER_EURO, HUNDREDTHS_PER_HOUR, format_hundredths

Message = dict[str, Any]

# --- Bounds of the settings ------------------------------------------------------------------
FIRST_YEAR = 2015  # the CPF starts on 2015-01-01
LAST_YEAR_MAX = 2100
ORDERS_PER_COMMUNE = 999  # commune 001-999 and order 001-999 encode the person index ...
PERSONS_MAX = ORDERS_PER_COMMUNE * ORDERS_PER_COMMUNE  # ... so that every NIR is unique

# --- Rulebook dates and figures that shape the messages ---------------------------------------
MESSAGE_VERSION = 1
EUR_FROM = date(2019, 1, 1)  # amounts in hours before, in EUR from
EARMARKS_FROM = date(2025, 4, 17)  # earmarks, expiry and refund of top-ups in force
DIF_OPENS = date(2015, 1, 1)
DIF_CLOSES = date(2021, 6, 30)
DIF_HOURS_MAX = 120
CEC_FIRST_YEAR = 2017
REFERENCE_HOURS = 1607
FORFAIT_REFERENCE_DAYS = 218
EUR_PER_HOUR = 15
HOURS_ACCRUAL = 24  # standard yearly accrual before 2019, full time
EUR_ACCRUAL = 500  # standard yearly accrual from 2019, at half time or more
EUR_CEILING = 5000
HALF_TIME = 0.5
POINTS_RULE_CHANGE = date(2023, 9, 1)
POINTS_CAP_BEFORE_CHANGE = 100
DOUBLE_POINTS_BORN_BEFORE = date(1956, 7, 1)
NO_RESERVED_POINTS_BORN_BEFORE = date(1960, 1, 1)
RETIREMENT_USE_AGE_MIN = 55
RETIREMENT_POINTS_MAX = 80
POINTS_BLOCK = 10
CIVIC_THRESHOLDS: dict[str, tuple[int, int | None]] = {  # activity: threshold, main organisation
    "service_civique": (6, None),
    "reserve_militaire": (90, None),
    "reserve_citoyenne_defense": (5, None),
    "reserve_communale": (5, None),
    "reserve_sanitaire": (30, None),
    "maitre_apprentissage": (6, None),
    "benevolat_associatif": (200, 100),
    "reserve_education_nationale": (25, None),
    "sapeur_pompier_volontaire": (5, None),
    "reserve_police_civile": (75, None),
    "reserve_police_citoyenne": (350, None),
    "reserve_civique": (200, 100),
}
CIVIC_ACTIVITIES = tuple(CIVIC_THRESHOLDS)
FACTORS_IN_FORCE: dict[str, tuple[date, date | None]] = {  # from, until (excluded)
    "night_work": (date(2015, 1, 1), None),
    "alternating_shifts": (date(2015, 1, 1), None),
    "repetitive_work": (date(2015, 1, 1), None),
    "hyperbaric": (date(2015, 1, 1), None),
    "manual_handling": (date(2016, 7, 1), date(2017, 10, 1)),
    "awkward_postures": (date(2016, 7, 1), date(2017, 10, 1)),
    "vibrations": (date(2016, 7, 1), date(2017, 10, 1)),
    "chemical_agents": (date(2016, 7, 1), date(2017, 10, 1)),
    "extreme_temperatures": (date(2016, 7, 1), None),
    "noise": (date(2016, 7, 1), None),
}

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
WAVE_OPENS_DAY = 3  # a quarter's facts go out from the 3rd of the next month, 08:00 ...
WAVE_OPENS_HOUR = 8
WAVE_SECONDS = 10 * 24 * 3600  # ... over ten days, person after person
CLOSE_AFTER_QUARTER = 1  # year Y is closed after the wave of Q1 Y+1 (published 3-13 April)
CLOSE_DAY, CLOSE_HOUR, CREDIT_DAY = 14, 18, 15  # published 14 April 18:00, credited 15 April
WINTER_OFFSET, SUMMER_OFFSET = "+01:00", "+02:00"  # Europe/Paris
LATE_FIX_FIRST, LATE_FIX_LAST = (APRIL, 16), (JUNE, 30)  # after the close: a regularisation

# --- Producers ---------------------------------------------------------------------------------
DSN, FRANCE_TRAVAIL, URSSAF, OPERATOR = "dsn", "france-travail", "urssaf", "operator"
MARKETPLACE, AGEFIPH, ASP, CARSAT = "marketplace", "agefiph", "asp", "carsat"
EDEF = "edef"  # the employers' and funders' space of the marketplace
CNAV, INSEE, SNGI = "cnav", "insee", "sngi"  # pensions, deaths, identifier management
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
    RANK_TRAINING,
    RANK_WITHDRAWAL,
    RANK_EXPOSURE,
    RANK_POINTS,
    RANK_LIFE,
    RANK_MERGE,
) = range(11)
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
RETIREMENT_REPORTED_PROBABILITY = 0.5  # full-rate retirements notified by the pension fund
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
MERGE_LATE_FIX_PROBABILITY = 0.5  # a late correction still about the NIA

# --- Jobs --------------------------------------------------------------------------------------
EMPLOYERS_PER_PERSON = 0.05
EMPLOYERS_MIN = 50
EMPLOYER_SKEW = 2.0  # indexes drawn as u ** skew: a few large employers, many small ones
EMPLOYER_SALT, ESAT_SALT, PROVIDER_SALT = "employer", "esat", "provider"
PROVIDERS = 300
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
LAST_AMENDABLE_MONTH = 9  # in-year corrections go out in a later wave of the same year
CORRECTION_PROBABILITY = 0.04
DUPLICATE_PROBABILITY = 0.01  # declared twice by mistake, the copy retracted later
AMENDED_PROBABILITY = CORRECTION_PROBABILITY + DUPLICATE_PROBABILITY
CORRECTED_SHARE = (0.7, 1.2)
LATE_FIX_PROBABILITY = 0.04

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
TRAINING_HEADROOM_DAYS = ENTRY_DELAY_DAYS[1] + REFUND_DELAY_DAYS[1]  # follow-ups before leaving
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


def generate(settings: DemoSettings) -> Iterator[Message]:
    """The feed's messages (contract v1, JSON-ready dicts) in publication order."""
    for year in range(settings.year_from, settings.year_to + 1):
        for quarter in QUARTERS:
            yield from _wave_messages(settings, _wave(year, quarter))
            if quarter == CLOSE_AFTER_QUARTER and year > settings.year_from:
                yield _close_message(year - 1)


def to_jsonl(messages: Iterable[Message]) -> Iterator[bytes]:
    """One JSON line (orjson, newline-terminated) per message."""
    for message in messages:
        yield orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE)


def summary_counts(messages: Iterable[Message]) -> Counter[str]:
    """How many messages of each type."""
    return Counter(message["type"] for message in messages)


# --- Waves ---------------------------------------------------------------------------------------


class _Wave(NamedTuple):
    """The publication of one quarter's facts."""

    first: date
    last: date
    opens: datetime  # Paris local time

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


class _Fact(NamedTuple):
    """A message before its publication time is known."""

    rank: int
    due: date  # the day the producer knew it: published in the wave after that quarter
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


def _wave(year: int, quarter: int) -> _Wave:
    last = _month_end(year, MONTHS_PER_QUARTER * quarter)
    following = last + ONE_DAY
    opens = datetime(following.year, following.month, WAVE_OPENS_DAY, WAVE_OPENS_HOUR)
    return _Wave(date(year, MONTHS_PER_QUARTER * quarter - 2, 1), last, opens)


def _wave_messages(settings: DemoSettings, wave: _Wave) -> Iterator[Message]:
    for index in range(settings.persons):
        facts = _due_facts(settings, _person(settings, index), wave)
        if not facts:
            continue
        offset = timedelta(seconds=index * WAVE_SECONDS // settings.persons)
        published_at = _timestamp(wave.opens + offset)
        facts.sort(key=_fact_order)
        for fact in facts:
            yield _envelope(fact, published_at)


def _due_facts(settings: DemoSettings, person: _Person, wave: _Wave) -> list[_Fact]:
    facts = [fact for fact in person.facts if wave.covers(fact.due)]
    if person.career.start.year <= wave.first.year <= person.career.end.year:
        plan = _year_plan(settings, person, wave.first.year)
        facts += [fact for fact in plan.facts if wave.covers(fact.due)]
    if person.late_fix is not None and wave.covers(person.late_fix.due):
        facts += _late_fix_facts(settings, person)
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


def _close_message(year: int) -> Message:
    published_at = _timestamp(datetime(year + 1, APRIL, CLOSE_DAY, CLOSE_HOUR))
    return {
        "message_id": f"close:{year}",
        "source": OPERATOR,
        "type": "accrual.year.closed",
        "version": MESSAGE_VERSION,
        "published_at": published_at,
        "data": {"year": year, "credited_on": date(year + 1, APRIL, CREDIT_DAY).isoformat()},
    }


def _timestamp(moment: datetime) -> str:
    """RFC 3339 with the Europe/Paris offset of that day (no window straddles a change)."""
    day = moment.date()
    summer = _last_sunday(day.year, MARCH) <= day < _last_sunday(day.year, OCTOBER)
    return f"{moment.isoformat()}{SUMMER_OFFSET if summer else WINTER_OFFSET}"


# --- Dates -------------------------------------------------------------------------------------


def _day(rng: random.Random, first: date, last: date) -> date:
    """A day drawn uniformly in [first, last]."""
    return date.fromordinal(first.toordinal() + rng.randrange((last - first).days + 1))


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


class _LateFix(NamedTuple):
    year: int
    due: date
    share: float


@dataclass(frozen=True, slots=True)
class _Person:
    index: int
    identity: _Identity
    career: _Career
    facts: tuple[_Fact, ...] = ()  # decided once for the whole career
    late_fix: _LateFix | None = None  # a correction after the year was closed


@dataclass(frozen=True, slots=True)
class _Life:
    """What the career-long draws need to know."""

    settings: DemoSettings
    index: int
    birth: date
    identity: _Identity
    career: _Career
    first: date  # the career's first day within the feed's years
    last: date  # its last day within them


def _person(settings: DemoSettings, index: int) -> _Person:
    # A string seed is hashed with SHA-512: the same stream on every run and platform.
    rng = random.Random(f"{settings.seed}:{index}")
    birth = _day(rng, BIRTH_FIRST, BIRTH_LAST)
    start, arrives = _work_start(rng, settings, birth)
    career = _career(rng, settings, birth, start)
    identity = _identity(rng, settings, index, birth, career, arrives)
    first, last = max(career.start, settings.dawn), min(career.end, settings.horizon)
    if first > last:
        return _Person(index, identity, career)
    life = _Life(settings, index, birth, identity, career, first, last)
    facts = _career_facts(rng, life)
    return _Person(index, identity, career, tuple(facts), _late_fix(rng, life))


def _work_start(rng: random.Random, settings: DemoSettings, birth: date) -> tuple[date, bool]:
    """The first working day, and whether the person arrives from abroad during the feed."""
    if rng.random() < MERGE_PROBABILITY:
        first = max(settings.dawn, date(birth.year + ADULT_AGE, 1, 1))
        last = date(settings.year_to - 1, DECEMBER, 31)
        if first <= last:
            return _day(rng, first, last), True
    age = rng.randint(*WORK_START_AGE)
    return _day(rng, date(birth.year + age, 1, 1), date(birth.year + age, DECEMBER, 31)), False


def _career(rng: random.Random, settings: DemoSettings, birth: date, start: date) -> _Career:
    retires_on = _month_end(birth.year + rng.randint(*RETIREMENT_AGE), birth.month) + ONE_DAY
    died_on = _death(rng, settings, start)
    end = min(retires_on, died_on or retires_on) - ONE_DAY
    esat = rng.random() < ESAT_PROBABILITY
    part_time = rng.uniform(*ESAT_SHARE) if esat else _part_time(rng)
    forfait_days = part_time == FULL_TIME and rng.random() < FORFAIT_DAYS_PROBABILITY
    employer = _employer(rng, settings, ESAT_SALT if esat else EMPLOYER_SALT)
    stability = rng.uniform(*STABILITY)
    splits = rng.choices(STEADY_SPLITS, STEADY_SPLIT_WEIGHTS)[0]
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


def _death(rng: random.Random, settings: DemoSettings, start: date) -> date | None:
    if rng.random() >= DEATH_PROBABILITY:
        return None
    first = _plus(max(start, settings.dawn), DEATH_AFTER_START_DAYS)
    return _day(rng, first, settings.horizon) if first <= settings.horizon else None


def _part_time(rng: random.Random) -> float:
    if rng.random() < PART_TIME_PROBABILITY:
        return rng.uniform(*PART_TIME_SHARE)
    return FULL_TIME


def _self_employed_years(
    rng: random.Random, settings: DemoSettings, start: date, end: date
) -> range:
    if rng.random() >= SELF_EMPLOYED_PROBABILITY:
        return range(0)
    low = max(start.year, settings.year_from)
    first = rng.randint(low, max(low, min(end.year, settings.year_to)))
    return range(first, first + rng.randint(*SELF_EMPLOYED_YEARS))


def _identity(
    rng: random.Random,
    settings: DemoSettings,
    index: int,
    birth: date,
    career: _Career,
    arrives: bool,
) -> _Identity:
    sex = rng.choice(SEX_DIGITS)
    department = ABROAD_DEPARTMENT if arrives else _department(rng, birth)
    nir = with_key(_body(sex, birth, department, index))
    if not arrives:
        return _Identity(nir, None, 0, None)
    nia = with_key(_body(NIA_DIGITS[sex], birth, department, index))
    nir_from_year = career.start.year + rng.randint(*MERGE_NIA_YEARS)
    if nir_from_year > settings.year_to:
        return _Identity(nia, None, 0, None)  # still known only by the NIA within the feed
    merged_on = _day(rng, _on(nir_from_year, MERGE_FIRST), _on(nir_from_year, MERGE_LAST))
    if merged_on > career.end:
        return _Identity(nia, None, 0, None)
    return _Identity(nir, nia, nir_from_year, merged_on)


def _department(rng: random.Random, birth: date) -> str:
    if rng.random() >= CORSICA_PROBABILITY:
        return rng.choice(MAINLAND_DEPARTMENTS)
    if birth.year < CORSICA_SPLIT_YEAR:
        return CORSICA_BEFORE_SPLIT
    return rng.choice(CORSICA_DEPARTMENTS)


def _body(first_digit: str, birth: date, department: str, index: int) -> str:
    """13 characters: sex (or NIA) digit, birth year and month, department, commune, order."""
    commune, order = divmod(index, ORDERS_PER_COMMUNE)
    return (
        f"{first_digit}{birth.year % 100:02d}{birth.month:02d}{department}"
        f"{commune + 1:03d}{order + 1:03d}"
    )


def _employer(rng: random.Random, settings: DemoSettings, salt: str = EMPLOYER_SALT) -> str:
    pool = max(EMPLOYERS_MIN, int(settings.persons * EMPLOYERS_PER_PERSON))
    return _siret(settings.seed, salt, int(pool * rng.random() ** EMPLOYER_SKEW))


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


def _late_fix(rng: random.Random, life: _Life) -> _LateFix | None:
    """Maybe a payroll correction published after the year was closed (a regularisation)."""
    last_year = min(life.last.year, life.settings.year_to - 1)
    if life.identity.nia is not None and rng.random() < MERGE_LATE_FIX_PROBABILITY:
        year = life.identity.nir_from_year - 1  # still about the NIA, after the merge
    elif rng.random() < LATE_FIX_PROBABILITY and life.first.year <= last_year:
        year = rng.randint(life.first.year, last_year)
    else:
        return None
    due = _day(rng, _on(year + 1, LATE_FIX_FIRST), _on(year + 1, LATE_FIX_LAST))
    if year < life.first.year or due > life.last:
        return None
    return _LateFix(year, due, rng.uniform(*CORRECTED_SHARE))


# --- Career-long facts ---------------------------------------------------------------------------


def _career_facts(rng: random.Random, life: _Life) -> list[_Fact]:
    facts = _lifecycle_facts(rng, life)
    facts += _qualification_facts(rng, life)
    facts += _disability_facts(rng, life)
    dif_facts, dif = _dif(rng, life)
    facts += dif_facts
    civic = _civic_facts(rng, life)
    facts += civic
    facts += _hardship_facts(rng, life)
    facts += _training_facts(rng, life, dif, volunteer=bool(civic))
    return facts


def _lifecycle_facts(rng: random.Random, life: _Life) -> list[_Fact]:
    """A full-rate retirement reported by the pension fund, a death, a merge of identifiers."""
    career, identity, index = life.career, life.identity, life.index
    facts: list[_Fact] = []
    retires_on, died_on = career.retires_on, career.died_on
    retires = (died_on is None or retires_on < died_on) and retires_on <= life.settings.horizon
    if retires and rng.random() < RETIREMENT_REPORTED_PROBABILITY:
        data = {"retired_on": retires_on.isoformat(), "full_rate": True}
        facts.append(
            _fact("person.retired", f"retired:{index}", identity.on(retires_on), retires_on, data)
        )
    if died_on is not None:
        data = {"died_on": died_on.isoformat()}
        facts.append(
            _fact("person.deceased", f"deceased:{index}", identity.on(died_on), died_on, data)
        )
    if identity.merged_on is not None:
        data = {"absorbed": identity.nia, "merged_on": identity.merged_on.isoformat()}
        facts.append(
            _fact("person.merged", f"merged:{index}", identity.nir, identity.merged_on, data)
        )
    return facts


def _qualification_facts(rng: random.Random, life: _Life) -> list[_Fact]:
    """A low-qualification declaration, and for some a later one that ends it."""
    if rng.random() >= LOW_QUALIFIED_PROBABILITY:
        return []
    source = rng.choice(QUALIFICATION_SOURCES)
    days = [_day(rng, life.first, life.last)]
    later = _plus(days[0], REQUALIFIED_AFTER_DAYS)
    if later <= life.last and rng.random() < REQUALIFIED_PROBABILITY:
        days.append(_day(rng, later, life.last))
    return [
        _fact(
            "qualification.declared",
            f"qualification:{life.index}:{number}",
            life.identity.on(day),
            day,
            {"low_qualified": number == 0, "declared_on": day.isoformat()},
            source=source,
        )
        for number, day in enumerate(days)
    ]


def _disability_facts(rng: random.Random, life: _Life) -> list[_Fact]:
    if rng.random() >= BOETH_PROBABILITY:
        return []
    start = _day(rng, life.first, life.last)
    data = {"from": start.isoformat()}
    if rng.random() < BOETH_LIMITED_PROBABILITY:
        years = rng.randint(*BOETH_YEARS)
        data["to"] = _plus(start, years * DAYS_PER_YEAR - 1).isoformat()
    person = life.identity.on(start)
    return [_fact("disability.recognised", f"boeth:{life.index}", person, start, data)]


class _Dif(NamedTuple):
    hours: int
    registered_on: date


def _dif(rng: random.Random, life: _Life) -> tuple[list[_Fact], _Dif | None]:
    """DIF registrations (a few amended), and what the rights estimate should count."""
    first, last = max(DIF_OPENS, life.first), min(DIF_CLOSES, life.last)
    if life.career.start >= DIF_OPENS or first > last or rng.random() >= DIF_PROBABILITY:
        return [], None
    registrations = [_Dif(_dif_hours(rng), _day(rng, first, last))]
    if registrations[0].registered_on < last and rng.random() < DIF_AMENDED_PROBABILITY:
        later = _day(rng, registrations[0].registered_on + ONE_DAY, last)
        registrations.append(_Dif(_dif_hours(rng), later))
    facts = [_dif_fact(life, number, dif) for number, dif in enumerate(registrations)]
    return facts, _Dif(registrations[-1].hours, registrations[0].registered_on)


def _dif_hours(rng: random.Random) -> int:
    if rng.random() < DIF_FULL_PROBABILITY:
        return DIF_HOURS_MAX
    return rng.randint(1, DIF_HOURS_MAX - 1)


def _dif_fact(life: _Life, number: int, dif: _Dif) -> _Fact:
    data = {
        "hours": format_hundredths(dif.hours * HUNDREDTHS_PER_HOUR),
        "registered_on": dif.registered_on.isoformat(),
    }
    supersedes = f"dif:{life.index}:{number - 1}" if number else None
    person = life.identity.on(dif.registered_on)
    return _fact(
        "dif.registered",
        f"dif:{life.index}:{number}",
        person,
        dif.registered_on,
        data,
        supersedes=supersedes,
    )


def _civic_facts(rng: random.Random, life: _Life) -> list[_Fact]:
    first_year = max(CEC_FIRST_YEAR, life.first.year)
    if rng.random() >= CEC_PROBABILITY or first_year > life.last.year:
        return []
    activity = rng.choice(CIVIC_ACTIVITIES)
    start = rng.randint(first_year, life.last.year)
    stop = min(life.last.year + 1, start + rng.randint(*CEC_YEARS))
    return [_civic_fact(rng, life, activity, year) for year in range(start, stop)]


def _civic_fact(rng: random.Random, life: _Life, activity: str, year: int) -> _Fact:
    """One activity year, validated the next spring; some below the activity's threshold."""
    threshold, main_threshold = CIVIC_THRESHOLDS[activity]
    if rng.random() < CEC_BELOW_THRESHOLD_PROBABILITY:
        quantity = rng.randint(1, threshold - 1)
    else:
        quantity = rng.randint(threshold, threshold * CEC_QUANTITY_SPREAD)
    data: Message = {"activity": activity, "year": year, "quantity": quantity}
    if main_threshold is not None:
        main = rng.randint(main_threshold // 2, main_threshold * CEC_QUANTITY_SPREAD)
        data["quantity_main_organisation"] = min(quantity, main)
    validated_on = _day(rng, _on(year + 1, VALIDATION_FIRST), _on(year + 1, VALIDATION_LAST))
    data["validated_on"] = validated_on.isoformat()
    person = life.identity.on(date(year, DECEMBER, 31))
    message_id = f"cec:{life.index}:{year}"
    return _fact("civic_engagement.declared", message_id, person, validated_on, data)


# --- Hardship (C2P) ------------------------------------------------------------------------------


class _Exposure(NamedTuple):
    year: int
    quarters: tuple[int, ...]
    factors: tuple[str, ...]


def _hardship_facts(rng: random.Random, life: _Life) -> list[_Fact]:
    years = _whole_years(life)
    if rng.random() >= HARDSHIP_PROBABILITY or not years:
        return []
    job = rng.choice(HARDSHIP_JOBS)
    start = rng.choice(years)
    stop = min(years.stop, start + rng.randint(*HARDSHIP_YEARS))
    exposures = [_exposure(rng, job, year) for year in range(start, stop)]
    declared = [exposure for exposure in exposures if exposure is not None]
    facts = [_exposure_fact(life, exposure) for exposure in declared]
    return facts + _points_use_facts(rng, life, declared)


def _whole_years(life: _Life) -> range:
    """The years the person worked from January to December."""
    first = life.first.year + (life.first != date(life.first.year, 1, 1))
    last = life.last.year - (life.last != date(life.last.year, DECEMBER, 31))
    return range(first, last + 1)


def _exposure(rng: random.Random, job: tuple[str, ...], year: int) -> _Exposure | None:
    drawn: tuple[int, ...] = QUARTERS
    if rng.random() >= HARDSHIP_FULL_YEAR_PROBABILITY:
        drawn = tuple(sorted(rng.sample(QUARTERS, rng.randint(1, len(QUARTERS) - 1))))
    # Only quarters and factors in force on the whole quarter (the list changed in 2016 and 2017).
    quarters = tuple(q for q in drawn if any(_in_force(factor, year, q) for factor in job))
    factors = tuple(f for f in job if all(_in_force(f, year, quarter) for quarter in quarters))
    return _Exposure(year, quarters, factors) if quarters and factors else None


def _in_force(factor: str, year: int, quarter: int) -> bool:
    since, until = FACTORS_IN_FORCE[factor]
    if since > _quarter_first(year, quarter):
        return False
    return until is None or _quarter_last(year, quarter) < until


def _exposure_fact(life: _Life, exposure: _Exposure) -> _Fact:
    """Declared with the payroll of the year's end, by the main employer."""
    year_end = date(exposure.year, DECEMBER, 31)
    data = {
        "employer": life.career.employer,
        "year": exposure.year,
        "quarters": list(exposure.quarters),
        "factors": list(exposure.factors),
        "birth_date": life.birth.isoformat(),
    }
    message_id = f"c2p:{life.index}:{exposure.year}"
    person = life.identity.on(year_end)
    return _fact("hardship.exposure.declared", message_id, person, year_end, data)


def _points_use_facts(rng: random.Random, life: _Life, exposures: list[_Exposure]) -> list[_Fact]:
    if len(exposures) < POINTS_USE_MIN_YEARS or rng.random() >= POINTS_USE_PROBABILITY:
        return []
    year = rng.randint(exposures[1].year + 1, exposures[-1].year + 1)
    requested_on = _day(rng, _on(year, POINTS_REQUEST_FIRST), _on(year, POINTS_REQUEST_LAST))
    available = _points([exposure for exposure in exposures if exposure.year < year], life.birth)
    if requested_on > life.last or available < 1:
        return []
    use, points = _points_use(rng, life.birth, requested_on, available)
    data = {
        "use": use,
        "points": points,
        "requested_on": requested_on.isoformat(),
        "birth_date": life.birth.isoformat(),
    }
    person = life.identity.on(requested_on)
    return [_fact("hardship.points.used", f"c2p:{life.index}:use", person, requested_on, data)]


def _points_use(rng: random.Random, birth: date, day: date, available: int) -> tuple[str, int]:
    """Retirement quarters for some older workers (no reserved points), training otherwise."""
    if (
        birth < NO_RESERVED_POINTS_BORN_BEFORE
        and _age(birth, day) >= RETIREMENT_USE_AGE_MIN
        and available >= POINTS_BLOCK
        and rng.random() < RETIREMENT_USE_PROBABILITY
    ):
        return "retirement", min(available, RETIREMENT_POINTS_MAX) // POINTS_BLOCK * POINTS_BLOCK
    return "training", rng.randint(1, available)


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


# --- Trainings and top-ups -----------------------------------------------------------------------


class _Grant(NamedTuple):
    grant_id: str
    source: str
    funder_type: str
    funder_id: str
    kind: str
    amount_eur: int
    granted_on: date


class _Order(NamedTuple):
    order_id: str
    tag: str  # `<person index>:<order number>`: the end of every message id about the order
    ordered_on: date
    certification: str
    price_cents: int
    person: str


def _training_facts(
    rng: random.Random, life: _Life, dif: _Dif | None, *, volunteer: bool
) -> list[_Fact]:
    count = rng.choices(TRAINING_COUNTS, TRAINING_WEIGHTS)[0]
    first = _plus(life.first, FIRST_ORDER_AFTER_DAYS)
    last = min(_plus(life.career.end, -TRAINING_HEADROOM_DAYS), life.settings.horizon)
    if count == 0 or first > last:
        return []
    facts: list[_Fact] = []
    spent_cents = 0
    for number, ordered_on in enumerate(sorted(_day(rng, first, last) for _ in range(count))):
        budget_cents = _rights_estimate(life, dif, ordered_on) - spent_cents
        new_facts, cost_cents = _training(rng, life, number, ordered_on, budget_cents, volunteer)
        facts += new_facts
        spent_cents += cost_cents
    return facts


def _training(
    rng: random.Random,
    life: _Life,
    number: int,
    ordered_on: date,
    budget_cents: int,
    volunteer: bool,
) -> tuple[list[_Fact], int]:
    """The facts of one training (and its top-up), and what it takes from the rights."""
    tag = f"{life.index}:{number}"
    grant = _grant(rng, life, tag, ordered_on)
    means_cents = budget_cents + (grant.amount_eur * CENTS_PER_EURO if grant else 0)
    priced = _priced(rng, means_cents)
    if priced is None:
        return [], 0
    certification, price_cents = priced
    person = life.identity.on(ordered_on)
    order = _Order(f"order:{tag}", tag, ordered_on, certification, price_cents, person)
    facts = [_order_fact(rng, life, order, volunteer)]
    outcome, cancelled_on = _outcome_facts(rng, order)
    if grant is not None:
        facts += _grant_facts(rng, order, grant, cancelled_on)
    return facts + outcome, 0 if cancelled_on else price_cents


def _rights_estimate(life: _Life, dif: _Dif | None, day: date) -> int:
    """A prudent guess of the rights available on `day`, in cents (years credited by then)."""
    career = life.career
    ratio = career.part_time * (career.stability + (1 - career.stability) * UNSTEADY_RATIO)
    closed = range(life.first.year, min(day.year, life.settings.year_to))
    credited = [year for year in closed if date(year + 1, APRIL, CREDIT_DAY) <= day]
    total = min(EUR_CEILING * CENTS_PER_EURO, sum(_accrual(year, ratio) for year in credited))
    if dif is not None and dif.registered_on <= day:
        total += dif.hours * EUR_PER_HOUR * CENTS_PER_EURO
    return int(total * ESTIMATE_PRUDENCE)


def _accrual(year: int, ratio: float) -> int:
    """The standard accrual of a year at that activity ratio, in cents."""
    if year < EUR_FROM.year:
        return round(HOURS_ACCRUAL * ratio) * EUR_PER_HOUR * CENTS_PER_EURO
    return round(EUR_ACCRUAL * min(1.0, ratio / HALF_TIME) * CENTS_PER_EURO)


def _priced(rng: random.Random, means_cents: int) -> tuple[str, int] | None:
    """A certification and its price: within the means, except for a few orders."""
    overshoot = rng.random() < OVERSHOOT_PROBABILITY
    choices = [c for c in CERTIFICATIONS if overshoot or c[1] * CENTS_PER_EURO <= means_cents]
    if not choices:
        return None
    certification, usual_eur = rng.choice(choices)
    price = usual_eur * CENTS_PER_EURO * rng.uniform(*PRICE_SPREAD)
    if not overshoot:
        price = min(price, means_cents)
    return certification, max(PRICE_STEP_CENTS, int(price) // PRICE_STEP_CENTS * PRICE_STEP_CENTS)


def _amount(eur_field: str, cents: int, day: date) -> dict[str, str]:
    """An amount in EUR from 2019, in whole hours (15 EUR/h) before."""
    if day >= EUR_FROM:
        return {eur_field: format_hundredths(cents)}
    hours = max(1, round(cents / (EUR_PER_HOUR * CENTS_PER_EURO)))
    return {"hours": format_hundredths(hours * HUNDREDTHS_PER_HOUR)}


def _order_fact(rng: random.Random, life: _Life, order: _Order, volunteer: bool) -> _Fact:
    data: Message = {
        "order_id": order.order_id,
        "certification": order.certification,
        "provider": _siret(life.settings.seed, PROVIDER_SALT, rng.randrange(PROVIDERS)),
        **_amount("price_eur", order.price_cents, order.ordered_on),
        "ordered_on": order.ordered_on.isoformat(),
    }
    if volunteer and rng.random() < VOLUNTEER_TRAINING_PROBABILITY:
        data["volunteer_training"] = True
    return _fact("training.ordered", order.order_id, order.person, order.ordered_on, data)


def _outcome_facts(rng: random.Random, order: _Order) -> tuple[list[_Fact], date | None]:
    """Entered (and maybe refunded), cancelled, or still held; and the cancellation day."""
    draw = rng.random()
    if draw < ENTERED_PROBABILITY:
        entered_on = _plus(order.ordered_on, rng.randint(*ENTRY_DELAY_DAYS))
        data = {"order_id": order.order_id, "entered_on": entered_on.isoformat()}
        facts = [_fact("training.entered", f"entered:{order.tag}", order.person, entered_on, data)]
        if rng.random() < REFUNDED_PROBABILITY:
            facts.append(_refund_fact(rng, order, entered_on))
        return facts, None
    if draw < ENTERED_PROBABILITY + CANCELLED_PROBABILITY:
        cancelled_on = _plus(order.ordered_on, rng.randint(*CANCEL_DELAY_DAYS))
        data = {"order_id": order.order_id, "cancelled_on": cancelled_on.isoformat()}
        message_id = f"cancelled:{order.tag}"
        return [_fact("training.cancelled", message_id, order.person, cancelled_on, data)], (
            cancelled_on
        )
    return [], None


def _refund_fact(rng: random.Random, order: _Order, entered_on: date) -> _Fact:
    refunded_on = _plus(entered_on, rng.randint(*REFUND_DELAY_DAYS))
    data = {"order_id": order.order_id, "refunded_on": refunded_on.isoformat()}
    if order.ordered_on >= EUR_FROM and rng.random() < PARTIAL_REFUND_PROBABILITY:
        share = rng.uniform(*PARTIAL_REFUND_SHARE)
        data["amount_eur"] = format_hundredths(round(order.price_cents * share))
    return _fact("training.refunded", f"refunded:{order.tag}", order.person, refunded_on, data)


def _grant(rng: random.Random, life: _Life, tag: str, ordered_on: date) -> _Grant | None:
    """A top-up granted shortly before the order, by the employer, France Travail or a region."""
    if rng.random() >= TOPUP_PROBABILITY:
        return None
    funder_type = rng.choices(FUNDER_TYPES, FUNDER_WEIGHTS)[0]
    source, funder_id, kind = EDEF, life.career.employer, funder_type
    if funder_type == EMPLOYER_FUNDER:
        kind = rng.choices(EMPLOYER_KINDS, EMPLOYER_KIND_WEIGHTS)[0]
    elif funder_type == FRANCE_TRAVAIL_FUNDER:
        source, funder_id = FRANCE_TRAVAIL, FRANCE_TRAVAIL_FUNDER_ID
    else:
        funder_id = f"region-{rng.choice(REGIONS)}"
    low, high = TOPUP_AMOUNTS_EUR[kind]
    amount_eur = rng.randint(low // TOPUP_STEP_EUR, high // TOPUP_STEP_EUR) * TOPUP_STEP_EUR
    granted_on = max(life.first, _plus(ordered_on, -rng.randint(*GRANT_LEAD_DAYS)))
    return _Grant(f"grant:{tag}", source, funder_type, funder_id, kind, amount_eur, granted_on)


def _grant_facts(
    rng: random.Random, order: _Order, grant: _Grant, cancelled_on: date | None
) -> list[_Fact]:
    """The grant (from 2025-04-17 some are earmarked for the ordered certification and expire),
    and its withdrawal for some cancelled trainings."""
    data: Message = {
        "grant_id": grant.grant_id,
        "funder_type": grant.funder_type,
        "funder_id": grant.funder_id,
        "kind": grant.kind,
        **_amount("amount_eur", grant.amount_eur * CENTS_PER_EURO, grant.granted_on),
        "granted_on": grant.granted_on.isoformat(),
    }
    if grant.granted_on >= EARMARKS_FROM and rng.random() < EARMARK_PROBABILITY:
        data["earmarked_certifications"] = [order.certification]
        data["expires_on"] = _plus(grant.granted_on, rng.randint(*EXPIRY_DAYS)).isoformat()
        data["refundable"] = rng.random() < REFUNDABLE_PROBABILITY
    facts = [
        _fact(
            "topup.granted",
            f"topup:{order.tag}",
            order.person,
            grant.granted_on,
            data,
            source=grant.source,
        )
    ]
    if cancelled_on is not None and rng.random() < WITHDRAWN_PROBABILITY:
        withdrawn_on = _plus(cancelled_on, rng.randint(*WITHDRAWAL_DELAY_DAYS))
        data = {"grant_id": grant.grant_id, "withdrawn_on": withdrawn_on.isoformat()}
        facts.append(
            _fact(
                "topup.withdrawn",
                f"withdrawal:{order.tag}",
                order.person,
                withdrawn_on,
                data,
                source=grant.source,
            )
        )
    return facts


# --- One year of work ----------------------------------------------------------------------------


class _Period(NamedTuple):
    start: date
    end: date
    employer: str
    worked: int  # hundredths of an hour (of a day for managers counted in days)


class _YearPlan(NamedTuple):
    periods: list[_Period]
    latest_ids: list[str]  # the message now standing for each period (after in-year fixes)
    facts: list[_Fact]


def _year_plan(settings: DemoSettings, person: _Person, year: int) -> _YearPlan:
    career = person.career
    first = max(career.start, date(year, 1, 1))
    last = min(career.end, date(year, DECEMBER, 31))
    rng = random.Random(f"{settings.seed}:{person.index}:{year}")
    periods = _periods(rng, settings, career, first, last)
    facts, latest_ids = _declarations(rng, person, year, periods)
    facts += _jobseeker_facts(rng, person, periods, first, last)
    facts += _self_employment_facts(rng, person, first, last)
    return _YearPlan(periods, latest_ids, facts)


def _periods(
    rng: random.Random, settings: DemoSettings, career: _Career, first: date, last: date
) -> list[_Period]:
    """One steady job, or a few short contracts with gaps (fewer when self-employed)."""
    if career.esat:
        return [_period(career, career.employer, first, last)]
    if first.year in career.self_employed:
        count = rng.choices(CONTRACT_COUNTS, SELF_EMPLOYED_CONTRACT_WEIGHTS)[0]
    elif rng.random() < career.stability:
        return _steady_periods(career, first, last)
    else:
        count = rng.choices(CONTRACT_COUNTS, CONTRACT_WEIGHTS)[0]
    span_days = (last - first).days + 1
    bounds = sorted(rng.sample(range(span_days), 2 * min(count, span_days // 2)))
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


def _declarations(
    rng: random.Random, person: _Person, year: int, periods: list[_Period]
) -> tuple[list[_Fact], list[str]]:
    """One payroll declaration per period, a few corrected or declared twice later that year."""
    facts: list[_Fact] = []
    latest_ids = []
    for number, period in enumerate(periods):
        message_id = f"dsn:{person.index}:{year}:{number}"
        facts.append(_employment_fact(person, period, message_id, period.end))
        amendments, latest_id = _amendments(rng, person, period, message_id)
        facts += amendments
        latest_ids.append(latest_id)
    return facts, latest_ids


def _amendments(
    rng: random.Random, person: _Person, period: _Period, message_id: str
) -> tuple[list[_Fact], str]:
    """Maybe a correction, or a copy sent by mistake and retracted, in a later wave of the year;
    and the message id that stands for the period afterwards."""
    draw = rng.random()
    if period.end.month > LAST_AMENDABLE_MONTH or draw >= AMENDED_PROBABILITY:
        return [], message_id
    quarter = (period.end.month - 1) // MONTHS_PER_QUARTER + 1
    later = _day(rng, _quarter_first(period.end.year, quarter + 1), _on(period.end.year, YEAR_END))
    if draw < CORRECTION_PROBABILITY:
        corrected = _corrected(person.career, period, rng.uniform(*CORRECTED_SHARE))
        fix_id = f"{message_id}:fix"
        return [_employment_fact(person, corrected, fix_id, later, message_id)], fix_id
    copy_id = f"{message_id}:copy"
    data = {"retracts": copy_id, "retracted_on": later.isoformat()}
    person_id = person.identity.on(period.end)
    retraction = _fact("fact.retracted", f"{copy_id}:retraction", person_id, later, data)
    return [_employment_fact(person, period, copy_id, period.end), retraction], message_id


def _corrected(career: _Career, period: _Period, share: float) -> _Period:
    whole = round(period.worked * share / HUNDREDTHS_PER_HOUR) * HUNDREDTHS_PER_HOUR
    return period._replace(worked=min(whole, _reference(career) * HUNDREDTHS_PER_HOUR))


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
    person_id = person.identity.on(period.end)
    return _fact("employment.declared", message_id, person_id, due, data, supersedes=supersedes)


def _jobseeker_facts(
    rng: random.Random, person: _Person, periods: list[_Period], first: date, last: date
) -> list[_Fact]:
    """Registrations for some of the long gaps between contracts (or a year without work)."""
    if periods:
        gaps = [(a.end + ONE_DAY, b.start - ONE_DAY) for a, b in itertools.pairwise(periods)]
    else:
        gaps = [] if first.year in person.career.self_employed else [(first, last)]
    facts = []
    for number, (gap_first, gap_last) in enumerate(gaps):
        if (gap_last - gap_first).days < JOBSEEKER_GAP_DAYS_MIN:
            continue
        if rng.random() >= JOBSEEKER_PROBABILITY:
            continue
        registered = _plus(gap_first, rng.randint(0, REGISTRATION_DELAY_DAYS_MAX))
        data = {"from": registered.isoformat(), "to": gap_last.isoformat()}
        message_id = f"jobseeker:{person.index}:{first.year}:{number}"
        person_id = person.identity.on(registered)
        facts.append(_fact("jobseeker.registered", message_id, person_id, gap_last, data))
    return facts


def _self_employment_facts(
    rng: random.Random, person: _Person, first: date, last: date
) -> list[_Fact]:
    if first.year not in person.career.self_employed:
        return []
    months = min(last.month - first.month + 1, rng.randint(*SELF_EMPLOYED_MONTHS))
    paid = rng.random() < CONTRIBUTION_PAID_PROBABILITY
    data = {"year": first.year, "months_active": months, "contribution_paid": paid}
    message_id = f"urssaf:{person.index}:{first.year}"
    return [_fact("self_employment.declared", message_id, person.identity.on(last), last, data)]


def _late_fix_facts(settings: DemoSettings, person: _Person) -> list[_Fact]:
    """The correction of the year's last period, published after that year was closed."""
    fix = person.late_fix
    assert fix is not None  # the caller checked
    plan = _year_plan(settings, person, fix.year)
    if not plan.periods:
        return []
    corrected = _corrected(person.career, plan.periods[-1], fix.share)
    message_id = f"dsn:{person.index}:{fix.year}:{len(plan.periods) - 1}:late"
    return [_employment_fact(person, corrected, message_id, fix.due, plan.latest_ids[-1])]
