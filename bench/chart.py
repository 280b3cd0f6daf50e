"""``--chart out.png``: a comparison chart, if matplotlib is installed.

matplotlib is an optional extra (``pip install matplotlib``): without it the
harness says so and carries on. It is imported by name at run time, so the
harness type-checks and runs whether or not it is there.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from .report import Results, size_label

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
    panels: list[str] = []
    if results.throughput is not None:
        panels += [f"size:{size}" for size in results.throughput.rates]
    if results.latency is not None:
        panels.append("latency")
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        if panel == "latency":
            _latency(ax, results)
        else:
            _throughput(ax, results, int(panel.split(":")[1]))
    fig.suptitle("wsclient benchmark (median, min-max whiskers)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _throughput(ax: Any, results: Results, size: int) -> None:
    assert results.throughput is not None
    rates = results.throughput.rates[size]
    names = list(rates)
    medians = [rates[n].median for n in names]
    low = [rates[n].median - rates[n].min for n in names]
    high = [rates[n].max - rates[n].median for n in names]
    colors = ["tab:red" if n == "wsclient" else "tab:blue" for n in names]
    ax.bar(range(len(names)), medians, yerr=[low, high], color=colors, capsize=4)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_title(f"{size_label(size)} messages")
    ax.set_ylabel("messages/s")


def _latency(ax: Any, results: Results) -> None:
    assert results.latency is not None
    latency = results.latency
    names = list(latency.p50)
    width = 0.38
    for offset, (label, figures) in enumerate((("p50", latency.p50), ("p99", latency.p99))):
        xs = [i + (offset - 0.5) * width for i in range(len(names))]
        medians = [figures[n].median for n in names]
        low = [figures[n].median - figures[n].min for n in names]
        high = [figures[n].max - figures[n].median for n in names]
        ax.bar(xs, medians, width, yerr=[low, high], capsize=4, label=label)
    ax.set_xticks(range(len(names)), names)
    ax.set_title(f"latency at {latency.rate:,} msg/s")
    ax.set_ylabel("microseconds")
    ax.legend()
