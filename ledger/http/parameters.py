"""Path and query parameters, checked: each parser returns a typed value or raises a 400
problem naming the parameter (`invalid_person` for a person identifier)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from ledger.http import limits
from ledger.http.problems import Problem, bad_parameter
from ledger.identity import InvalidPerson, normalise

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_WHOLE = re.compile(r"^[0-9]{1,9}$")


def person(text: str) -> str:
    try:
        return normalise(text)
    except InvalidPerson as error:
        raise Problem(400, "invalid_person", str(error)) from error


def date(query: Mapping[str, str], name: str) -> dt.date | None:
    text = query.get(name)
    if text is None:
        return None
    if not _DATE.match(text):
        raise bad_parameter(f"{name} must be a date YYYY-MM-DD")
    try:
        value = dt.date.fromisoformat(text)
    except ValueError as error:
        raise bad_parameter(f"{name} is not a calendar date: {text}") from error
    if not limits.DATE_MIN <= value <= limits.DATE_MAX:
        raise bad_parameter(f"{name} must be between {limits.DATE_MIN} and {limits.DATE_MAX}")
    return value


def timestamp(query: Mapping[str, str], name: str) -> dt.datetime | None:
    """An RFC 3339 timestamp with an offset. A space where the offset's `+` belongs is read as
    `+` (an unencoded `+` in a query string arrives as a space)."""
    text = query.get(name)
    if text is None:
        return None
    text = re.sub(r" ([0-9]{2}:[0-9]{2})$", r"+\1", text)
    if not _TIMESTAMP.match(text):
        raise bad_parameter(f"{name} must be an RFC 3339 timestamp with an offset")
    try:
        value = dt.datetime.fromisoformat(text.upper())
    except ValueError as error:
        raise bad_parameter(f"{name} is not a valid timestamp: {text}") from error
    if not limits.DATE_MIN <= value.date() <= limits.DATE_MAX:
        raise bad_parameter(f"{name} must be between {limits.DATE_MIN} and {limits.DATE_MAX}")
    return value


def whole(text: str | None, name: str, low: int, high: int) -> int | None:
    if text is None:
        return None
    if not _WHOLE.match(text) or not low <= int(text) <= high:
        raise bad_parameter(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def limit(query: Mapping[str, str], default: int, maximum: int) -> int:
    value = whole(query.get("limit"), "limit", 1, maximum)
    return default if value is None else value


def required(query: Mapping[str, str], name: str, pattern: str, description: str) -> str:
    text = query.get(name)
    if text is None:
        raise bad_parameter(f"{name} is required")
    if not re.match(pattern, text):
        raise bad_parameter(f"{name} must be {description}")
    return text


def choice(query: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    text = query.get(name)
    if text is not None and text not in allowed:
        raise bad_parameter(f"{name} must be one of {', '.join(allowed)}")
    return text
