"""A line chart as inline SVG, drawn on the server: no script, nothing fetched.

One chart per unit (a balance in hours before 2019 and in euros after cannot share an axis).
Each point is a `<circle class="point">` carrying its date and value (`data-date`,
`data-value`), with a `<title>` that screen readers and hovering show; the chart has a text
alternative, and the page gives the same figures as a table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

WIDTH = 640
HEIGHT = 260
MARGIN_LEFT = 78
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 40
Y_TICKS = 4
X_LABELS_MAX = 8
LINE_COLOUR = "#1d4e89"  # 8.6:1 on white
GRID_COLOUR = "#c8c8c8"
TEXT_COLOUR = "#222222"


@dataclass(frozen=True, slots=True)
class Point:
    on: str  # ISO date
    value: str  # decimal text, as the API writes it
    label: str  # the date as the page writes it


@dataclass(frozen=True, slots=True)
class Series:
    unit: str
    points: tuple[Point, ...]


def split_by_unit(points: Sequence[tuple[Point, str]]) -> list[Series]:
    """Consecutive points of one unit make one series."""
    series: list[Series] = []
    for point, unit in points:
        if series and series[-1].unit == unit:
            series[-1] = Series(unit, (*series[-1].points, point))
        else:
            series.append(Series(unit, (point,)))
    return series


def nice_step(span: Decimal) -> Decimal:
    """A round grid step (1, 2 or 5 times a power of ten) giving about Y_TICKS lines."""
    if span <= 0:
        return Decimal(1)
    raw = span / Y_TICKS
    power = Decimal(10) ** (raw.adjusted())
    for factor in (1, 2, 5, 10):
        if power * factor >= raw:
            return power * factor
    return power * 10


def _floor(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding="ROUND_FLOOR")


def svg(series: Series, title: str, describe: Callable[[str], str], chart_id: str) -> str:
    """The chart of one series; `describe(value)` writes a value with its unit."""
    values = [Decimal(point.value) for point in series.points]
    step = nice_step(max(Decimal(0), *values) - min(Decimal(0), *values))
    low = step * _floor(min(Decimal(0), *values) / step)
    high = step * -_floor(-max(Decimal(0), *values) / step)
    if high == low:
        high = low + step
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    count = len(series.points)

    def x(index: int) -> float:
        if count == 1:
            return MARGIN_LEFT + plot_width / 2
        return MARGIN_LEFT + plot_width * index / (count - 1)

    def y(value: Decimal) -> float:
        return MARGIN_TOP + plot_height * float((high - value) / (high - low))

    parts = [f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'role="img" aria-labelledby="{escape(chart_id)}-title" '
             f'data-unit="{escape(series.unit)}" data-points="{count}" '
             f'xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{escape(chart_id)}-title">{escape(title)}</title>']
    for tick in range(int((high - low) / step) + 1):
        value = low + step * tick
        top = y(value)
        parts.append(f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{top:.1f}" '
                     f'y2="{top:.1f}" stroke="{GRID_COLOUR}" stroke-width="1"/>')
        parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{top + 4:.1f}" text-anchor="end" '
                     f'font-size="12" fill="{TEXT_COLOUR}">{escape(describe(str(value)))}</text>')
    every = max(1, -(-count // X_LABELS_MAX))
    for index, point in enumerate(series.points):
        crowded = index == count - 2 and not series.points[-1].on.endswith("-12-31")
        if (index % every == 0 and not crowded) or index == count - 1:
            last = index == count - 1 and count > 1
            text = point.on[:4] if point.on.endswith("-12-31") else point.on
            parts.append(f'<text x="{x(index):.1f}" y="{HEIGHT - MARGIN_BOTTOM + 18}" '
                         f'text-anchor="{"end" if last else "middle"}" font-size="12" '
                         f'fill="{TEXT_COLOUR}">{escape(text)}</text>')
    if count > 1:
        path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE_COLOUR}" '
                     f'stroke-width="2.5"/>')
    for index, point in enumerate(series.points):
        parts.append(f'<circle class="point" cx="{x(index):.1f}" cy="{y(values[index]):.1f}" '
                     f'r="4.5" fill="{LINE_COLOUR}" data-date="{escape(point.on)}" '
                     f'data-value="{escape(point.value)}"><title>{escape(point.label)}: '
                     f'{escape(describe(point.value))}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)
