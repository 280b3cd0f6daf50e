"""Summaries of repeated measurements: median and range over rounds, and
percentiles of a latency sample. Medians because a 2-core machine has noisy
neighbours; the range so the reader sees how noisy."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Summary", "percentile", "summarize"]


@dataclass(frozen=True, slots=True)
class Summary:
    """The median, minimum and maximum of ``samples`` (one per round)."""

    median: float
    min: float
    max: float
    samples: list[float] = field(default_factory=list)


def summarize(samples: Sequence[float]) -> Summary:
    """The :class:`Summary` of ``samples``; NaNs throughout if there are none."""
    if not samples:
        return Summary(math.nan, math.nan, math.nan, [])
    values = list(samples)
    return Summary(statistics.median(values), min(values), max(values), values)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
