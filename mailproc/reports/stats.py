"""Small statistics the report needs, defined once so the text, JSON and HTML agree.

Median is the usual one (mean of the two middle values for an even count); the 90th
percentile is the nearest-rank one: the smallest value with at least 90% of the values at or
below it. Nearest-rank always names a real case ("nine orders in ten came within N hours"),
which is what a library reports, and needs no interpolation to explain.
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime


def hours_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 3600


def nearest_rank(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict:
    """count, median and p90 (hours, one decimal) of a list of durations."""
    if not values:
        return {"count": 0, "median": None, "p90": None}
    return {"count": len(values), "median": round(statistics.median(values), 1),
            "p90": round(nearest_rank(values, 90), 1)}
