"""Feeds the HTTP tests send: careers with closed years, top-ups, orders."""

from __future__ import annotations

from typing import Any

from tests.support import Feed

FULL_TIME_HOURS = "1607"


def career(feed: Feed, person: str, years: range) -> list[dict[str, Any]]:
    """Full-time employment every year of `years`."""
    return [feed.employment(year, FULL_TIME_HOURS, person=person) for year in years]


def closes(feed: Feed, years: range) -> list[dict[str, Any]]:
    return [feed.close(year) for year in years]


def topup(feed: Feed, person: str, number: int, amount: str = "10.00",
          granted_on: str | None = None, **extra: Any) -> dict[str, Any]:
    on = granted_on or f"2023-02-{1 + number % 27:02d}"
    data = {"grant_id": f"g{number}", "funder_type": "region", "funder_id": "r1",
            "kind": "region", "amount_eur": amount, "granted_on": on, **extra}
    return feed.message("topup.granted", data, person=person, published=on)


def order(feed: Feed, person: str, order_id: str, price: str, on: str,
          certification: str = "RNCP123") -> dict[str, Any]:
    data = {"order_id": order_id, "certification": certification, "provider": "p1",
            "price_eur": price, "ordered_on": on}
    return feed.message("training.ordered", data, person=person, published=on)
