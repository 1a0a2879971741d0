"""The demo feed generator: deterministic, contract-shaped, ordered, streaming."""

from __future__ import annotations

import collections
import itertools
import re
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from ledger.demo import PERSONS_MAX, DemoSettings, generate, summary_counts, to_jsonl
from ledger.identity import is_valid

Message = dict[str, Any]

FEED_PERSONS = 2000
FEED_SEED = 7
MERGE_PERSONS = 1000
SMALL_PERSONS = 100
MESSAGES_PER_PERSON_MIN, MESSAGES_PER_PERSON_MAX = 20, 40
LAZY_TAKE = 1000
LAZY_SECONDS_MAX = 2.0
MEMORY_PERSONS = 300
MEMORY_YEARS = (2015, 2016)
MEMORY_RATIO_MIN = 10  # streaming peaks at less than a tenth of the feed held in a list

MESSAGE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SOURCE = re.compile(r"^[a-z0-9._:-]{1,64}$")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?[+-][0-9]{2}:[0-9]{2}$"
)
DECIMAL = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$")
SIRET = re.compile(r"^[0-9]{14}$")
ENVELOPE = {"message_id", "source", "type", "version", "person", "published_at", "data"}

# Contract §4: type -> (required data fields, optional data fields).
DATA_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "employment.declared": (
        {"employer", "period_start", "period_end", "hours_worked"},
        {"reference_hours", "regime", "post_share", "category"},
    ),
    "self_employment.declared": ({"year", "months_active", "contribution_paid"}, set()),
    "qualification.declared": ({"low_qualified", "declared_on"}, set()),
    "disability.recognised": ({"from"}, {"to"}),
    "jobseeker.registered": ({"from"}, {"to"}),
    "dif.registered": ({"hours", "registered_on"}, {"regime"}),
    "topup.granted": (
        {"grant_id", "funder_type", "funder_id", "kind", "granted_on"},
        {"amount_eur", "hours", "earmarked_certifications", "expires_on", "refundable"},
    ),
    "topup.withdrawn": ({"grant_id", "withdrawn_on"}, set()),
    "civic_engagement.declared": (
        {"activity", "year", "quantity", "validated_on"},
        {"quantity_main_organisation"},
    ),
    "training.ordered": (
        {"order_id", "certification", "provider", "ordered_on"},
        {"price_eur", "hours", "volunteer_training", "regime"},
    ),
    "training.cancelled": ({"order_id", "cancelled_on"}, set()),
    "training.entered": ({"order_id", "entered_on"}, set()),
    "training.refunded": ({"order_id", "refunded_on"}, {"amount_eur"}),
    "hardship.exposure.declared": (
        {"employer", "year", "quarters", "factors", "birth_date"},
        set(),
    ),
    "hardship.points.used": ({"use", "points", "requested_on", "birth_date"}, set()),
    "person.retired": ({"retired_on", "full_rate"}, set()),
    "person.deceased": ({"died_on"}, set()),
    "person.merged": ({"absorbed", "merged_on"}, set()),
    "accrual.year.closed": ({"year", "credited_on"}, set()),
    "fact.retracted": ({"retracts", "retracted_on"}, set()),
    "cpf.conversion.requested": (
        {"request_id", "direction", "principal_activity", "requested_on"},
        {"amount"},
    ),
}
DATE_FIELDS = {
    "period_start", "period_end", "declared_on", "from", "to", "registered_on", "granted_on",
    "expires_on", "withdrawn_on", "validated_on", "ordered_on", "cancelled_on", "entered_on",
    "refunded_on", "birth_date", "requested_on", "retired_on", "died_on", "merged_on",
    "credited_on", "retracted_on",
}  # fmt: skip
DECIMAL_FIELDS = {
    "hours_worked", "reference_hours", "hours", "amount_eur", "price_eur", "quantity",
    "quantity_main_organisation", "amount",
}  # fmt: skip
EUR_FROM = date(2019, 1, 1)
EARMARKS_FROM = date(2025, 4, 17)
DIF_CLOSES = date(2021, 6, 30)
DIF_HOURS_MAX = Decimal(120)
FORFAIT_DAYS_MAX = Decimal(218)
PART_TIME_HOURS_MAX = Decimal(1400)
SEVERAL_EMPLOYERS_SHARE_MIN = 10  # more than a tenth of person-years have several employers
CIVIC_ACTIVITIES = {
    "service_civique", "reserve_militaire", "reserve_citoyenne_defense", "reserve_communale",
    "reserve_sanitaire", "maitre_apprentissage", "benevolat_associatif",
    "reserve_education_nationale", "sapeur_pompier_volontaire", "reserve_police_civile",
    "reserve_police_citoyenne", "reserve_civique",
}  # fmt: skip
# Rules §8: factor -> (in force from, until excluded).
FACTORS: dict[str, tuple[date, date | None]] = {
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
QUARTER_BOUNDS = {1: ((1, 1), (3, 31)), 2: ((4, 1), (6, 30)), 3: ((7, 1), (9, 30)),
                  4: ((10, 1), (12, 31))}  # fmt: skip


@pytest.fixture(scope="module")
def feed() -> list[Message]:
    return list(generate(DemoSettings(persons=FEED_PERSONS, seed=FEED_SEED)))


def _of_type(feed: list[Message], kind: str) -> list[Message]:
    return [message for message in feed if message["type"] == kind]


def _day(text: str) -> date:
    assert ISO_DATE.match(text), text
    return date.fromisoformat(text)


def _published(message: Message) -> datetime:
    text = message["published_at"]
    assert RFC3339.match(text), text
    return datetime.fromisoformat(text)


def test_the_same_seed_gives_the_same_bytes() -> None:
    settings = DemoSettings(persons=SMALL_PERSONS, seed=3)
    first = b"".join(to_jsonl(generate(settings)))
    assert first == b"".join(to_jsonl(generate(settings)))


def test_another_seed_gives_another_feed() -> None:
    first = b"".join(to_jsonl(generate(DemoSettings(persons=SMALL_PERSONS, seed=3))))
    assert first != b"".join(to_jsonl(generate(DemoSettings(persons=SMALL_PERSONS, seed=4))))


def test_envelopes_follow_the_contract(feed: list[Message]) -> None:
    for message in feed:
        closing = message["type"] == "accrual.year.closed"
        assert set(message) - {"supersedes"} == ENVELOPE - ({"person"} if closing else set())
        assert MESSAGE_ID.match(message["message_id"]) and SOURCE.match(message["source"])
        assert message["version"] == 1
        assert closing or is_valid(message["person"]), message
        _published(message)


def test_data_fields_follow_the_contract(feed: list[Message]) -> None:
    for message in feed:
        required, optional = DATA_FIELDS[message["type"]]
        data = message["data"]
        assert required <= set(data) <= required | optional, message
        for field in DATE_FIELDS & set(data):
            _day(data[field])
        for field in DECIMAL_FIELDS & set(data):
            assert DECIMAL.match(data[field]), message


def test_every_type_of_the_contract_appears(feed: list[Message]) -> None:
    assert set(summary_counts(feed)) == set(DATA_FIELDS)


def test_employment_periods_stay_within_one_year(feed: list[Message]) -> None:
    for message in _of_type(feed, "employment.declared"):
        data = message["data"]
        start, end = _day(data["period_start"]), _day(data["period_end"])
        assert start <= end and start.year == end.year
        assert SIRET.match(data["employer"]) and data["regime"] in {"private", "esat", "public"}
        reference = Decimal(data["reference_hours"])
        assert reference == Decimal(1607) or reference <= FORFAIT_DAYS_MAX
        assert Decimal(data["hours_worked"]) <= reference


def test_careers_are_fragmented_and_part_time(feed: list[Message]) -> None:
    employers: dict[tuple[str, int], set[str]] = {}
    part_time_years = 0
    for message in _of_type(feed, "employment.declared"):
        data = message["data"]
        employers.setdefault((message["person"], _day(data["period_end"]).year), set()).add(
            data["employer"]
        )
        whole_year = data["period_start"].endswith("01-01") and data["period_end"].endswith("12-31")
        if whole_year and Decimal(data["hours_worked"]) < PART_TIME_HOURS_MAX:
            part_time_years += 1
    several = sum(len(found) > 1 for found in employers.values())
    assert several * SEVERAL_EMPLOYERS_SHARE_MIN > len(employers) and part_time_years > 0


def test_a_few_work_in_an_esat(feed: list[Message]) -> None:
    regimes = Counter(m["data"]["regime"] for m in _of_type(feed, "employment.declared"))
    assert 0 < regimes["esat"] < regimes["private"]


def test_employers_are_luhn_valid_sirets(feed: list[Message]) -> None:
    employers = {m["data"]["employer"] for m in _of_type(feed, "employment.declared")}
    assert all(_luhn_valid(siret) and _luhn_valid(siret[:9]) for siret in employers)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def test_identifiers_are_unique_per_person(feed: list[Message]) -> None:
    owners: dict[str, set[str]] = {}
    for message in _of_type(feed, "employment.declared"):
        index = message["message_id"].split(":")[1]  # dsn:<person index>:<year>:<number>
        owners.setdefault(message["person"], set()).add(index)
    assert all(len(indexes) == 1 for indexes in owners.values())


def test_amounts_are_hours_before_2019_and_euros_after(feed: list[Message]) -> None:
    dated = [
        ("topup.granted", "granted_on", "amount_eur"),
        ("training.ordered", "ordered_on", "price_eur"),
    ]
    for kind, day_field, euro_field in dated:
        for message in _of_type(feed, kind):
            data = message["data"]
            if data.get("regime") == "public":  # public orders are in hours (rules §10.5)
                assert "hours" in data and euro_field not in data, message
                continue
            in_euros = _day(data[day_field]) >= EUR_FROM
            assert (euro_field in data, "hours" in data) == (in_euros, not in_euros), message


def test_earmarks_and_expiry_only_from_2025_04_17(feed: list[Message]) -> None:
    earmarked = [m for m in _of_type(feed, "topup.granted") if "expires_on" in m["data"]]
    for message in _of_type(feed, "topup.granted"):
        data = message["data"]
        if {"earmarked_certifications", "expires_on", "refundable"} & set(data):
            assert _day(data["granted_on"]) >= EARMARKS_FROM
    assert earmarked


def test_dif_registrations_respect_the_limits(feed: list[Message]) -> None:
    for message in _of_type(feed, "dif.registered"):
        data = message["data"]
        assert 0 < Decimal(data["hours"]) <= DIF_HOURS_MAX
        assert date(2015, 1, 1) <= _day(data["registered_on"]) <= DIF_CLOSES


def test_civic_engagement_uses_the_rulebook_activities(feed: list[Message]) -> None:
    for message in _of_type(feed, "civic_engagement.declared"):
        data = message["data"]
        assert data["activity"] in CIVIC_ACTIVITIES and data["year"] >= 2017
        assert _day(data["validated_on"]).year > data["year"]


def test_hardship_factors_are_in_force_on_the_declared_quarters(feed: list[Message]) -> None:
    for message in _of_type(feed, "hardship.exposure.declared"):
        data = message["data"]
        assert data["quarters"] and set(data["quarters"]) <= {1, 2, 3, 4} and data["factors"]
        for quarter in data["quarters"]:
            (first_month, first_day), (last_month, last_day) = QUARTER_BOUNDS[quarter]
            first = date(data["year"], first_month, first_day)
            last = date(data["year"], last_month, last_day)
            for factor in data["factors"]:
                since, until = FACTORS[factor]
                assert since <= first and (until is None or last < until), message


def test_message_ids_are_unique_per_source(feed: list[Message]) -> None:
    keys = Counter((message["source"], message["message_id"]) for message in feed)
    assert keys.most_common(1)[0][1] == 1


def test_the_feed_is_in_publication_order(feed: list[Message]) -> None:
    moments = [_published(message) for message in feed]
    assert all(earlier <= later for earlier, later in itertools.pairwise(moments))


def test_every_closed_year_is_closed_once_and_the_last_stays_open(feed: list[Message]) -> None:
    closes = _of_type(feed, "accrual.year.closed")
    assert [message["data"]["year"] for message in closes] == list(range(2015, 2026))
    for message in closes:
        year = message["data"]["year"]
        assert message["source"] == "operator" and "person" not in message
        assert _day(message["data"]["credited_on"]) == date(year + 1, 4, 15)
        assert _published(message).date().replace(day=1) == date(year + 1, 4, 1)


def test_a_year_is_closed_after_its_payroll_except_amendments(feed: list[Message]) -> None:
    closed_at = {m["data"]["year"]: _published(m) for m in _of_type(feed, "accrual.year.closed")}
    for message in _of_type(feed, "employment.declared"):
        year = _day(message["data"]["period_end"]).year
        if year in closed_at and "supersedes" not in message:
            assert _published(message) < closed_at[year], message


def test_references_point_to_earlier_messages_of_the_same_person(feed: list[Message]) -> None:
    seen: dict[tuple[str, str], str] = {}
    orders: dict[str, str] = {}
    grants: dict[str, str] = {}
    for message in feed:
        source, person, data = message["source"], message.get("person"), message["data"]
        for reference in (message.get("supersedes"), data.get("retracts")):
            assert reference is None or seen[source, reference] == person, message
        if message["type"].startswith("training.") and message["type"] != "training.ordered":
            assert orders[data["order_id"]] == person, message
        if message["type"] == "topup.withdrawn":
            assert grants[data["grant_id"]] == person, message
        seen[source, message["message_id"]] = person or ""
        if message["type"] == "training.ordered":
            orders[data["order_id"]] = person or ""
        if message["type"] == "topup.granted":
            grants[data["grant_id"]] = person or ""


def test_corrections_and_retractions_are_published_later(feed: list[Message]) -> None:
    published = {(m["source"], m["message_id"]): _published(m) for m in feed}
    amendments = [m for m in feed if "supersedes" in m or m["type"] == "fact.retracted"]
    for message in amendments:
        reference = message.get("supersedes") or message["data"]["retracts"]
        assert published[message["source"], reference] < _published(message)
    assert {m["type"] for m in amendments} >= {"employment.declared", "fact.retracted"}


def test_merges_appear_at_1000_persons() -> None:
    feed = list(generate(DemoSettings(persons=MERGE_PERSONS)))
    merges = _of_type(feed, "person.merged")
    assert merges
    position = {id(message): number for number, message in enumerate(feed)}
    for merge in merges:
        survivor, absorbed = merge["person"], merge["data"]["absorbed"]
        assert survivor[0] in "12" and absorbed[0] in "78" and is_valid(absorbed)
        before = feed[: position[id(merge)]]
        assert any(m.get("person") == absorbed for m in before)
        assert any(m.get("person") == survivor for m in before)


def test_some_persons_are_born_in_corsica(feed: list[Message]) -> None:
    departments = {message["person"][5:7] for message in feed if "person" in message}
    assert {"2A", "2B"} <= departments


def test_the_average_is_20_to_40_messages_per_person(feed: list[Message]) -> None:
    average = len(feed) / FEED_PERSONS
    assert MESSAGES_PER_PERSON_MIN <= average <= MESSAGES_PER_PERSON_MAX


def test_generation_is_lazy() -> None:
    started = time.perf_counter()
    taken = list(itertools.islice(generate(DemoSettings(persons=PERSONS_MAX)), LAZY_TAKE))
    assert len(taken) == LAZY_TAKE
    assert time.perf_counter() - started < LAZY_SECONDS_MAX


def _peak_memory(consume: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        consume()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_holds_far_less_than_the_feed() -> None:
    year_from, year_to = MEMORY_YEARS
    settings = DemoSettings(persons=MEMORY_PERSONS, year_from=year_from, year_to=year_to)
    streamed = _peak_memory(lambda: collections.deque(generate(settings), maxlen=0))
    held = _peak_memory(lambda: list(generate(settings)))
    assert streamed * MEMORY_RATIO_MIN < held


@pytest.mark.parametrize(
    ("persons", "year_from", "year_to"),
    [(0, 2015, 2026), (PERSONS_MAX + 1, 2015, 2026), (10, 2014, 2026), (10, 2020, 2019)],
)
def test_settings_out_of_range_are_refused(persons: int, year_from: int, year_to: int) -> None:
    with pytest.raises(ValueError, match="must"):
        DemoSettings(persons=persons, year_from=year_from, year_to=year_to)


def test_a_single_open_year_has_no_close() -> None:
    feed = list(generate(DemoSettings(persons=SMALL_PERSONS, year_from=2020, year_to=2020)))
    assert feed and not _of_type(feed, "accrual.year.closed")


def test_jsonl_is_one_orjson_line_per_message(feed: list[Message]) -> None:
    head = feed[:LAZY_TAKE]
    lines = list(to_jsonl(head))
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    assert [orjson.loads(line) for line in lines] == head


def test_summary_counts_by_type(feed: list[Message]) -> None:
    counts = summary_counts(feed)
    assert sum(counts.values()) == len(feed)
    assert counts["accrual.year.closed"] == len(_of_type(feed, "accrual.year.closed"))


# Public agents and moves between sectors (rules §10).

PUBLIC_SHARE_RANGE = (0.05, 0.35)  # of persons with at least one public period
CONVERSIONS_FROM = date(2020, 1, 1)


def _careers(feed: list[Message]) -> dict[str, set[str]]:
    """person -> regimes of their periods."""
    regimes: dict[str, set[str]] = {}
    for message in _of_type(feed, "employment.declared"):
        regimes.setdefault(message["person"], set()).add(message["data"]["regime"])
    return regimes


def test_a_share_of_persons_are_public_agents_and_some_move(feed: list[Message]) -> None:
    careers = _careers(feed)
    public = [person for person, regimes in careers.items() if "public" in regimes]
    mixed = [person for person, regimes in careers.items() if {"public", "private"} <= regimes]
    low, high = PUBLIC_SHARE_RANGE
    assert low * len(careers) < len(public) < high * len(careers)
    assert 0 < len(mixed) < len(public)


def test_public_periods_follow_rules_10_2(feed: list[Message]) -> None:
    periods = [m["data"] for m in _of_type(feed, "employment.declared")
               if m["data"]["regime"] == "public"]
    assert periods and {p["category"] for p in periods} == {"A", "B", "C"}
    shares = {p.get("post_share", "1") for p in periods}
    assert "1" in shares and len(shares) > 1
    assert all(0 < Decimal(share) <= 1 for share in shares)
    private = [m["data"] for m in _of_type(feed, "employment.declared")
               if m["data"]["regime"] != "public"]
    assert not any("post_share" in p or "category" in p for p in private)


def test_public_dif_orders_and_conversions_appear(feed: list[Message]) -> None:
    public_dif = [m for m in _of_type(feed, "dif.registered") if m["data"].get("regime")]
    assert public_dif and all(Decimal(m["data"]["hours"]) <= DIF_HOURS_MAX for m in public_dif)
    public_orders = [m for m in _of_type(feed, "training.ordered")
                     if m["data"].get("regime") == "public"]
    assert public_orders and all("hours" in m["data"] for m in public_orders)
    conversions = _of_type(feed, "cpf.conversion.requested")
    assert conversions
    for message in conversions:
        data = message["data"]
        assert _day(data["requested_on"]) >= CONVERSIONS_FROM
        allowed = {"public": "euros_to_hours", "private": "hours_to_euros"}
        assert allowed[data["principal_activity"]] == data["direction"]
    public_only = {person for person, regimes in _careers(feed).items()
                   if regimes == {"public"}}
    exposed = {m["person"] for m in _of_type(feed, "hardship.exposure.declared")}
    assert not public_only & exposed  # C2P does not apply to public-law periods


def test_a_message_id_names_one_message_whatever_the_run_size() -> None:
    """`demo --persons 300` then `--persons 1000`: the shared ids carry the same messages
    (before, `published_at` and the employers' SIRETs depended on the run's size)."""
    small = generate(DemoSettings(persons=30, year_from=2017, year_to=2020))
    large = generate(DemoSettings(persons=100, year_from=2017, year_to=2020))
    by_id = {(m["source"], m["message_id"]): m for m in large}
    shared = [(m, by_id.get((m["source"], m["message_id"]))) for m in small]
    assert all(twin is not None for _, twin in shared)
    assert [m for m, twin in shared if m != twin] == []


def test_the_demo_figures_are_the_rulebook_parameters() -> None:
    from ledger.demo import figures
    from ledger.parameters import load

    parameters = load()
    assert figures.CIVIC_THRESHOLDS["benevolat_associatif"] == (200, 100)
    assert figures.CIVIC_THRESHOLDS["service_civique"] == (6, None)
    assert set(figures.CIVIC_THRESHOLDS) == set(parameters.get("cec_thresholds",
                                                               date(2017, 1, 1)))
    assert figures.FACTORS_IN_FORCE == FACTORS
    assert (figures.EUR_FROM, figures.EARMARKS_FROM, figures.DIF_CLOSES) == (
        EUR_FROM, EARMARKS_FROM, DIF_CLOSES)
    rule_change = figures.POINTS_RULE_CHANGE
    assert rule_change == date(2023, 9, 1)
    assert figures.POINTS_CAP_BEFORE_CHANGE == 100
    assert (figures.PUBLIC_FIRST_YEAR, figures.CONVERSIONS_FROM) == (2017, CONVERSIONS_FROM)


def test_sample_persons_name_each_kind_of_career() -> None:
    from ledger.demo import persons, sample_persons

    settings = DemoSettings(persons=SMALL_PERSONS * 3)
    samples = sample_persons(settings, 5)
    assert len(samples) == 5
    assert {"private", "public"} <= {s.career for s in samples}
    assert {s.career for s in samples} & {"to_public", "to_private"}
    everyone = {s.identifier for s in persons(settings)}
    assert {s.identifier for s in samples} <= everyone
    assert all(is_valid(s.identifier) for s in samples)
