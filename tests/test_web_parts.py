"""The pages' parts that need no server: the language a request asks for, numbers in each
language, the chart's points, where a login may send the browser, a year explained in words."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ledger.web import chart, i18n, session, views


@pytest.mark.parametrize(("header", "override", "chosen"), [
    (None, None, "en"), ("fr-FR,fr;q=0.9,en;q=0.8", None, "fr"), ("de, en;q=0.5, fr;q=0.7", None,
                                                                "fr"),
    ("fr;q=0, en", None, "en"), ("fr;q=bad", None, "en"), ("en", "fr", "fr"), ("fr", "xx", "fr"),
])
def test_the_language(header: str | None, override: str | None, chosen: str) -> None:
    assert i18n.choose(header, override) == chosen


def test_amounts_in_each_language() -> None:
    french, english = i18n.Words("fr"), i18n.Words("en")
    assert french.amount("-1866.23", "EUR") == "\u22121\u202f866,23\u00a0€"
    assert english.amount("1866.23", "EUR") == "1,866.23\u00a0€"
    assert english.amount(12, "points") == "12\u00a0points"
    assert french.date("2025-01-01") == "1er janvier 2025"
    assert english.date("2025-12-31") == "31 December 2025"


def test_the_chart_has_one_point_per_date_and_one_series_per_unit() -> None:
    dates = views.chart_dates(2016, dt.date(2026, 11, 30))
    assert dates[0] == dt.date(2016, 12, 31) and dates[-1] == dt.date(2026, 11, 30)
    assert len(dates) == 11
    assert views.chart_dates(None, dt.date(2026, 1, 1)) == [dt.date(2026, 1, 1)]
    assert views.chart_dates(2020, dt.date(2025, 12, 31))[-2:] == [dt.date(2024, 12, 31),
                                                                   dt.date(2025, 12, 31)]
    points = [(chart.Point(f"{year}-12-31", str(year - 2000), str(year)),
               "hours" if year < 2019 else "EUR") for year in range(2015, 2026)]
    series = chart.split_by_unit(points)
    assert [(s.unit, len(s.points)) for s in series] == [("hours", 4), ("EUR", 7)]
    drawn = chart.svg(series[1], "title <&>", str, "c")
    assert drawn.count('class="point"') == 7 and "title &lt;&amp;&gt;" in drawn
    assert chart.nice_step(Decimal("1866.23")) == Decimal(500)


@pytest.mark.parametrize(("target", "sent_to"), [
    ("/pages/persons/x", "/pages/persons/x"), ("https://elsewhere.example/", "/pages/"),
    ("//elsewhere.example/pages/", "/pages/"), ("/v1/audit/verify", "/pages/"), (None, "/pages/"),
    ("/pages/\\elsewhere", "/pages/"),
])
def test_a_login_sends_the_browser_to_our_pages_only(target: str | None, sent_to: str) -> None:
    assert session.safe_next(target) == sent_to


def test_a_closed_year_in_words() -> None:
    document = {"year": 2019, "status": "closed", "settlements": [{}, {}], "result": {
        "unit": "EUR", "hours_worked": "598.76", "ratio": "0.3726", "profile": "enhanced",
        "profile_reasons": ["low_qualified"], "self_employed_months": 0,
        "parameters": {"annual_amount_eur": "800.00", "full_amount_ratio": "1/2"},
        "entitled": "298.08", "ceiling": "8000.00", "balance": "7900.00", "posted_on":
        "2020-04-15", "posting_unit": "EUR", "entitled_posted": "298.08", "credited": "100.00"}}
    sentences = views.explain(document, i18n.Words("en"))
    assert sentences == [
        "598.76 hours worked, 37.3\u00a0% of a full-time year.",
        "Enhanced profile (low qualified).",
        "Full amount 800.00\u00a0€ for at least 1/2 of a full-time year.",
        "Entitled to 298.08\u00a0€.",
        "Credited 100.00\u00a0€ on 15 April 2020.",
        "Limited by the ceiling of 8,000.00\u00a0€ (balance then 7,900.00\u00a0€).",
        "Settled 2 times (regularisations after late declarations).",
    ]
