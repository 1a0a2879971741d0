"""Hypothesis strategies: plausible careers (for properties) and any schema-valid message (for
fuzzing the rules)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from tests.support import Feed

PERSONS = ("A", "B", "E")
YEARS = st.integers(min_value=2015, max_value=2026)
CERTIFICATIONS = ("RNCP1", "RNCP2", "RS3")
CEC_ACTIVITIES = ("service_civique", "benevolat_associatif", "reserve_sanitaire")
FACTORS = ("night_work", "noise", "manual_handling", "repetitive_work")


def _day(year: int, day_of_year: int) -> str:
    return (dt.date(year, 1, 1) + dt.timedelta(days=day_of_year)).isoformat()


@st.composite
def dates(draw: st.DrawFn, first: int = 2015, last: int = 2026) -> str:
    year = draw(st.integers(first, last))
    return _day(year, draw(st.integers(0, 364)))


def _hours(draw: st.DrawFn, top: int) -> str:
    return f"{draw(st.integers(0, top))}.{draw(st.integers(0, 99)):02d}"


@st.composite
def career_action(draw: st.DrawFn, feed: Feed, sent: list[dict[str, Any]]) -> dict[str, Any]:
    """One plausible message; corrections and order follow-ups refer to earlier ones."""
    person = draw(st.sampled_from(PERSONS))
    kind = draw(st.sampled_from((
        "employment", "employment", "employment", "close", "dif", "topup", "order", "follow",
        "cec", "exposure", "correct", "retract", "jobseeker", "self",
        "public", "public", "public_dif", "convert", "convert", "public_order",
    )))
    return _ACTIONS[kind](draw, feed, person, sent)


def _employment(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    year = draw(YEARS)
    return feed.employment(year, _hours(draw, 2000), person=person)


def _close(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    year = draw(st.integers(2015, 2025))
    return feed.close(year, _day(year + 1, draw(st.integers(60, 150))))


def _dif(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    on = draw(dates(2015, 2022))
    return feed.message("dif.registered", {"hours": str(draw(st.integers(1, 120))),
                                           "registered_on": on}, person=person, published=on)


def _topup(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    on = draw(dates(2019, 2026))
    data: dict[str, Any] = {
        "grant_id": f"g{len(sent)}", "funder_type": "employer", "funder_id": "12345678901234",
        "kind": draw(st.sampled_from(("employer_voluntary", "region", "other"))),
        "amount_eur": f"{draw(st.integers(1, 3000))}.00", "granted_on": on,
    }
    if on >= "2025-04-17" and draw(st.booleans()):
        data["expires_on"] = _day(int(on[:4]) + 1, draw(st.integers(0, 300)))
        data["refundable"] = draw(st.booleans())
        data["earmarked_certifications"] = [draw(st.sampled_from(CERTIFICATIONS))]
    return feed.message("topup.granted", data, person=person, published=on)


def _order(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    on = draw(dates(2016, 2026))
    data: dict[str, Any] = {"order_id": f"o{len(sent)}",
                            "certification": draw(st.sampled_from(CERTIFICATIONS)),
                            "provider": "12345678901234", "ordered_on": on}
    if on < "2019-01-01":
        data["hours"] = str(draw(st.integers(1, 200)))
    else:
        data["price_eur"] = f"{draw(st.integers(0, 4000))}.{draw(st.integers(0, 99)):02d}"
    return feed.message("training.ordered", data, person=person, published=on)


def _follow(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    placed = [m for m in sent if m["type"] == "training.ordered"]
    if not placed:
        return _order(draw, feed, person, sent)
    order = draw(st.sampled_from(placed))
    kind = draw(st.sampled_from(("entered", "cancelled", "refunded")))
    on = _day(int(order["data"]["ordered_on"][:4]), draw(st.integers(200, 364)))
    data = {"order_id": order["data"]["order_id"], f"{kind}_on": on}
    return feed.message(f"training.{kind}", data, person=_alias(order), published=on)


def _cec(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    year = draw(st.integers(2017, 2025))
    on = _day(year + 1, draw(st.integers(0, 200)))
    data = {"activity": draw(st.sampled_from(CEC_ACTIVITIES)), "year": year,
            "quantity": str(draw(st.integers(0, 400))),
            "quantity_main_organisation": str(draw(st.integers(0, 200))), "validated_on": on}
    return feed.message("civic_engagement.declared", data, person=person, published=on)


def _exposure(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    year = draw(st.integers(2015, 2025))
    quarters = sorted(draw(st.sets(st.integers(1, 4), min_size=1)))
    factors = sorted(draw(st.sets(st.sampled_from(FACTORS), min_size=1)))
    data = {"employer": "12345678901234", "year": year, "quarters": quarters,
            "factors": factors, "birth_date": "1984-03-01"}
    return feed.message("hardship.exposure.declared", data, person=person,
                        published=f"{year + 1}-01-20")


def _correct(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    earlier = [m for m in sent if m["type"] == "employment.declared"]
    if not earlier:
        return _employment(draw, feed, person, sent)
    old = draw(st.sampled_from(earlier))
    year = int(old["data"]["period_start"][:4])
    new = feed.employment(year, _hours(draw, 2000), person=_alias(old))
    new["supersedes"] = old["message_id"]
    return new


def _retract(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    earlier = [m for m in sent if m["type"] == "employment.declared"]
    if not earlier:
        return _employment(draw, feed, person, sent)
    old = draw(st.sampled_from(earlier))
    return feed.message("fact.retracted", {"retracts": old["message_id"],
                                           "retracted_on": "2024-01-01"},
                        person=_alias(old), published="2024-01-01")


def _jobseeker(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    start = draw(dates(2015, 2026))
    return feed.message("jobseeker.registered", {"from": start}, person=person, published=start)


def _self(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    year = draw(st.integers(2016, 2026))
    data = {"year": year, "months_active": draw(st.integers(1, 12)), "contribution_paid": True}
    return feed.message("self_employment.declared", data, person=person,
                        published=f"{year + 1}-02-01")


def _public(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    """A period in a public post (rules §10): part of a year, some on a post of less than
    full time, some of category C."""
    year = draw(st.integers(2016, 2026))
    start = draw(st.integers(0, 300))
    end = draw(st.integers(start, 364))
    data: dict[str, Any] = {"employer": "12345678901234", "period_start": _day(year, start),
                            "period_end": _day(year, end), "hours_worked": "0",
                            "regime": "public"}
    share = draw(st.sampled_from((None, "1", "0.5", "0.8", "0.7")))
    if share is not None:
        data["post_share"] = share
    if draw(st.booleans()):
        data["category"] = draw(st.sampled_from(("A", "B", "C")))
    return feed.message("employment.declared", data, person=person,
                        published=f"{year + 1}-01-12")


def _public_dif(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    on = draw(dates(2016, 2026))
    return feed.message("dif.registered", {"hours": str(draw(st.integers(1, 120))),
                                           "registered_on": on, "regime": "public"},
                        person=person, published=on)


def _convert(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    on = draw(dates(2019, 2027))
    direction = draw(st.sampled_from(("euros_to_hours", "hours_to_euros")))
    activity = draw(st.sampled_from(("public", "private", "equal", "equal")))
    data: dict[str, Any] = {"request_id": f"r{len(sent)}", "direction": direction,
                            "principal_activity": activity, "requested_on": on}
    if draw(st.booleans()):
        top = 3000 if direction == "euros_to_hours" else 200
        data["amount"] = f"{draw(st.integers(1, top))}.{draw(st.integers(0, 99)):02d}"
    return feed.message("cpf.conversion.requested", data, person=person, published=on)


def _public_order(draw: st.DrawFn, feed: Feed, person: str, sent: list[Any]) -> dict[str, Any]:
    on = draw(dates(2017, 2026))
    data: dict[str, Any] = {"order_id": f"o{len(sent)}", "regime": "public",
                            "certification": draw(st.sampled_from(CERTIFICATIONS)),
                            "provider": "12345678901234", "ordered_on": on,
                            "hours": str(draw(st.integers(1, 150)))}
    return feed.message("training.ordered", data, person=person, published=on)


_IDENTIFIERS: dict[str, str] = {}


def _alias(message: dict[str, Any]) -> str:
    return str(message["person"])


_ACTIONS = {
    "employment": _employment,
    "close": _close,
    "dif": _dif,
    "topup": _topup,
    "order": _order,
    "follow": _follow,
    "cec": _cec,
    "exposure": _exposure,
    "correct": _correct,
    "retract": _retract,
    "jobseeker": _jobseeker,
    "self": _self,
    "public": _public,
    "public_dif": _public_dif,
    "convert": _convert,
    "public_order": _public_order,
}


@st.composite
def careers(draw: st.DrawFn, max_size: int = 30) -> list[dict[str, Any]]:
    """A feed of plausible messages about a few persons, in an arbitrary (backfilled) order."""
    feed = Feed(prefix="h")
    sent: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, max_size))):
        sent.append(draw(career_action(feed, sent)))
    return sent
