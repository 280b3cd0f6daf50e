"""Summaries of repeated measurements: median and range over rounds, and
percentiles of a latency sample. Medians because a 2-core machine has noisy
neighbours; the range so the reader sees how noisy."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Summary", "percentile", "summarize", "summarize_each", "summarize_ratios"]


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


def summarize_each(samples: Mapping[str, Sequence[float]]) -> dict[str, Summary]:
    """:func:`summarize` each client's (or label's) samples."""
    return {name: summarize(values) for name, values in samples.items()}


def summarize_ratios(tops: Sequence[float], bottoms: Sequence[float]) -> Summary:
    """The :class:`Summary` of ``top / bottom``, round by round."""
    return summarize([top / bottom for top, bottom in zip(tops, bottoms, strict=True)])


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
