"""Integer money and hours: cents and hundredths of an hour, rounded up as the rulebook says.

Never floats. Amounts in messages are decimal strings with at most two decimals.
"""

from __future__ import annotations

import json
import re
from fractions import Fraction

CENTS_PER_EURO = 100
HUNDREDTHS_PER_HOUR = 100
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,2}))?$")

Unit = str  # "EUR" or "hours"
EUR = "EUR"
HOURS = "hours"


class InvalidAmount(ValueError):
    """Not a non-negative decimal string with at most two decimals."""


def parse_hundredths(text: str) -> int:
    """'186.69' -> 18669 (cents or hundredths of an hour)."""
    match = _DECIMAL.match(text)
    if match is None:
        raise InvalidAmount(f"not a decimal with at most two decimals: {json.dumps(text)}")
    whole, fraction = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(fraction)


def format_hundredths(value: int) -> str:
    """18669 -> '186.69'; -50 -> '-0.50' (exactly two decimals)."""
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    return f"{sign}{magnitude // 100}.{magnitude % 100:02d}"


def ceil_to_unit(value: Fraction, step: int) -> int:
    """Round a non-negative exact value up to a multiple of `step` (in the same unit)."""
    quotient = -(-value.numerator // (value.denominator * step))
    return int(quotient) * step


def ceil_cents(value: Fraction) -> int:
    """Round up to the cent: Fraction(1866830, 100) cents... value already in cents."""
    return ceil_to_unit(value, 1)


def ceil_whole_hour(value_hundredths: Fraction) -> int:
    """Round hundredths of an hour up to a whole hour (2015-2018 accruals)."""
    return ceil_to_unit(value_hundredths, HUNDREDTHS_PER_HOUR)
