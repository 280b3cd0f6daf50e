"""The readable tables and the JSON file.

Every figure is a median over rounds with its [min-max]; ratios are medians
of per-round ratios (clients of one round ran side by side, so their ratio
is fairer than a ratio of medians).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .gap import GapResult
from .latency import LatencyResult
from .scale import ScaleResult
from .scale_child import AIOHTTP, WSCLIENT
from .stats import Summary
from .throughput import ThroughputResult

__all__ = ["Results", "render", "size_label", "to_json", "write_json"]

_BUSY = 0.8  # a process this busy (share of one core) may be the bottleneck
_BUSY_MACHINE = 0.5  # a 1-minute load average above this before the run: other work
_MIN_WALL = 0.5  # seconds: CPU times tick every 10 ms, shorter spans say little


@dataclasses.dataclass(slots=True)
class Results:
    """Everything one run produced; phases not run stay None."""

    meta: dict[str, Any]
    throughput: ThroughputResult | None = None
    gap: GapResult | None = None
    scale: ScaleResult | None = None
    latency: LatencyResult | None = None


def _si(value: float) -> str:
    """Three significant digits with a k/M suffix: 1.13M, 808k, 52.4k, 950."""
    if math.isnan(value):
        return "n/a"
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.3g}{suffix}" if scaled < 1000 else f"{scaled:.0f}{suffix}"
    return f"{value:.3g}"


def _fmt(summary: Summary, show: Callable[[float], str] = _si) -> str:
    """``median [min-max]``."""
    return f"{show(summary.median)} [{show(summary.min)}-{show(summary.max)}]"


def _fixed(digits: int, sign: bool = False) -> Callable[[float], str]:
    return lambda v: f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def size_label(size: int) -> str:
    """``150 B``, ``4 KiB``."""
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


def _throughput(result: ThroughputResult) -> list[str]:
    lines = [
        f"1. Receive throughput, messages/s (median [min-max] of {result.rounds} rounds)",
        f"   {'size':<8}{'client':<30}{'msg/s':<26}{'MB/s':>8}{'client CPU':>12}"
        f"{'server CPU':>12}",
    ]
    for size, rates in result.rates.items():
        lines.append(f"   {size_label(size)}: {result.counts[size]:,} messages per run")
        for name, summary in rates.items():
            span = result.cpu[size][name]
            if span.wall >= _MIN_WALL:
                shares = f"{span.client_share():>12.0%}{span.server_share():>12.0%}"
                flag = "  server-bound?" if span.server_share() > _BUSY else ""
            else:
                shares, flag = f"{'n/a':>12}{'n/a':>12}", ""
            lines.append(
                f"   {'':<8}{name:<30}{_fmt(summary):<26}"
                f"{summary.median * size / 1e6:>8.0f}{shares}{flag}"
            )
        for label, ratio in result.ratios[size].items():
            lines.append(f"   {'':<8}{label:<50}{_fmt(ratio, _fixed(2))}")
    if result.skipped:
        lines.append(f"   skipped (not installed): {', '.join(result.skipped)}")
    lines.append(
        "   CPU: share of one core over the runs' wall time, client (this process) "
        "and server process;"
    )
    lines.append(
        "   a client near 100% with the server well below it means the client is the limit."
    )
    return lines


def _gap(result: GapResult) -> list[str]:
    ms = _fixed(2)
    plus = _fixed(2, sign=True)
    rows = [
        ("aiohttp handshake: ws_connect -> first message", _fmt(result.handshake, ms)),
        ("aiohttp, reconnecting by hand: close -> first message", _fmt(result.raw_gap, ms)),
        ("wsclient, policy 4000 -> Uniform(0, 0): close -> first", _fmt(result.wsclient_gap, ms)),
        ("wsclient gap - aiohttp gap", _fmt(result.extra_vs_raw, plus)),
        ("wsclient gap - aiohttp handshake", _fmt(result.extra_vs_handshake, plus)),
    ]
    lines = [
        f"2. Reconnect gap, ms (median of {result.reconnects} reconnects per round; "
        "median [min-max] over rounds)",
    ]
    lines += [f"   {label:<58}{value}" for label, value in rows]
    return lines


def _scale(result: ScaleResult) -> list[str]:
    lines = [
        f"3. Scale: {result.connections:,} idle connections opened concurrently, "
        f"heartbeat {result.heartbeat:g} s (fresh process per run; open-file limit "
        f"{result.fd_limit:,})",
        f"   {'client':<30}{'RSS KiB/connection':<26}{'open all, s':<24}{'open CPU, s':<20}",
    ]
    labels = {WSCLIENT: "wsclient Session", AIOHTTP: "aiohttp ws_connect(limit=0)"}
    for name, label in labels.items():
        lines.append(
            f"   {label:<30}{_fmt(result.rss_kib[name], _fixed(1)):<26}"
            f"{_fmt(result.open_seconds[name], _fixed(3)):<24}"
            f"{_fmt(result.open_cpu_seconds[name], _fixed(3)):<20}"
        )
    lines.append(
        f"   {'wsclient / aiohttp':<30}{_fmt(result.rss_ratio, _fixed(2)):<26}"
        f"{_fmt(result.open_ratio, _fixed(2)):<24}"
    )
    return lines


def _latency(result: LatencyResult) -> list[str]:
    us = _fixed(0)
    lines = [
        f"4. Receive latency at {result.rate:,} msg/s, microseconds "
        f"({result.messages:,} messages per round; median [min-max] over rounds)",
        f"   {'client':<20}{'p50':<20}{'p99':<22}{'max':<20}",
    ]
    for name in result.p50:
        lines.append(
            f"   {name:<20}{_fmt(result.p50[name], us):<20}"
            f"{_fmt(result.p99[name], us):<22}{_fmt(result.max[name], us):<20}"
        )
    return lines


def render(results: Results) -> str:
    """The report as text."""
    meta = results.meta
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    pinned = meta.get("pinned")
    quick = meta["mode"] == "quick"
    where = (
        f"client pinned to CPU {pinned['client']}, server to CPU {pinned['server']}"
        if pinned
        else "not pinned"
    )
    lines = [
        f"wsclient benchmark ({meta['mode']}): Python {meta['python']}; {versions}",
        f"{meta['cpus']} CPUs, {where}. Absolute figures depend on this machine; "
        "compare the ratios.",
        *(["SMOKE TEST (--quick): runs far too short, the figures mean nothing."] * quick),
        f"Load average (1 min) {meta['load_before']:.2f} before the run"
        + (
            ": the machine was busy, expect noise."
            if meta["load_before"] > _BUSY_MACHINE
            else " (quiet machine)."
        ),
        "",
    ]
    if results.throughput is not None:
        lines += [*_throughput(results.throughput), ""]
    if results.gap is not None:
        lines += [*_gap(results.gap), ""]
    if results.scale is not None:
        lines += [*_scale(results.scale), ""]
    if results.latency is not None:
        lines += [*_latency(results.latency), ""]
    lines.append(
        f"total time {meta['seconds']:.1f} s; load average after {meta['load_after']:.2f} "
        f"(ours included); CPU time over the whole run: client process "
        f"{meta['client_cpu_seconds']:.1f} s (scale children excluded), "
        f"server process {meta['server_cpu_seconds']:.1f} s"
    )
    return "\n".join(line.rstrip() for line in lines)


def _clean(value: Any) -> Any:
    """JSON-ready: dataclasses as dicts, NaN as null, keys as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _clean(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(results: Results) -> str:
    """The results as a JSON document."""
    return json.dumps(_clean(results), indent=2, allow_nan=False)


def write_json(results: Results, path: Path) -> None:
    """Write :func:`to_json` to ``path``, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(results) + "\n", encoding="utf-8")
