"""``--chart out.png``: a comparison chart, if matplotlib is installed.

matplotlib is an optional extra (``pip install matplotlib``): without it the
harness says so and carries on. It is imported by name at run time, so the
harness type-checks and runs whether or not it is there.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from .latency import LatencyResult
from .report import Results, size_label
from .stats import Summary

__all__ = ["available", "draw"]


def available() -> bool:
    """Whether matplotlib can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


def draw(results: Results, path: Path) -> None:
    """Throughput per size (bars with min-max whiskers) and latency
    percentiles, side by side, saved to ``path``."""
    matplotlib: Any = importlib.import_module("matplotlib")
    matplotlib.use("Agg")  # no display needed
    plt: Any = importlib.import_module("matplotlib.pyplot")
    panels: list[Callable[[Any], None]] = []
    if results.throughput is not None:
        panels += [
            partial(_throughput, size=s, rates=r) for s, r in results.throughput.rates.items()
        ]
    if results.latency is not None:
        panels.append(partial(_latency, latency=results.latency))
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        panel(ax)
    fig.suptitle("wsclient benchmark (median, min-max whiskers)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _bars(figures: dict[str, Summary]) -> tuple[list[float], list[list[float]]]:
    """The medians of ``figures`` and their whiskers: ``yerr`` for ``bar``."""
    medians = [f.median for f in figures.values()]
    low = [f.median - f.min for f in figures.values()]
    high = [f.max - f.median for f in figures.values()]
    return medians, [low, high]


def _throughput(ax: Any, size: int, rates: dict[str, Summary]) -> None:
    medians, whiskers = _bars(rates)
    colors = ["tab:red" if n == "wsclient" else "tab:blue" for n in rates]
    ax.bar(range(len(rates)), medians, yerr=whiskers, color=colors, capsize=4)
    ax.set_xticks(range(len(rates)), list(rates), rotation=30, ha="right")
    ax.set_title(f"{size_label(size)} messages")
    ax.set_ylabel("messages/s")


def _latency(ax: Any, latency: LatencyResult) -> None:
    names = list(latency.p50)
    width = 0.38
    for offset, (label, figures) in enumerate((("p50", latency.p50), ("p99", latency.p99))):
        xs = [i + (offset - 0.5) * width for i in range(len(names))]
        medians, whiskers = _bars(figures)
        ax.bar(xs, medians, width, yerr=whiskers, capsize=4, label=label)
    ax.set_xticks(range(len(names)), names)
    ax.set_title(f"latency at {latency.rate:,} msg/s")
    ax.set_ylabel("microseconds")
    ax.legend()
