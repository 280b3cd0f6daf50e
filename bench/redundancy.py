"""Redundant legs: what a second leg costs and what it saves.

``python -m bench.redundancy [--quick]``

- latency: p50/p99 from a tick's publication (its ``perf_counter_ns`` stamp)
  to the application, for one connection, two legs at equal delay, and two
  legs of which one is 5 ms slower (the merged stream should follow the
  faster leg). The feed's two replicas run in a process of their own on
  127.0.0.1 (500 ticks a second). Interleaved over rounds; medians [min-max]
  of per-round percentiles.
- outage: ticks missed through a 1012 restart of the replica a single
  connection uses, against two legs (one on each replica), on virtual time
  over many seeds of the jitter.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMessage

import wsclient
from wsclient.testing import FakeClock
from wsclient.testing.feed import TickFeed

from .stats import Summary, percentile, summarize

__all__ = ["main"]

_RESULTS = Path(__file__).resolve().parent / "results" / "redundancy.json"


def _key(msg: WSMessage) -> tuple[str, int]:
    return "t", json.loads(msg.data)["seq"]


def _stamped(seq: int) -> str:
    return json.dumps({"seq": seq, "ns": time.perf_counter_ns()})


async def _serve(lag: float, count: int, interval: float) -> None:
    """The feed, in a process of its own: print its URLs, tick, end."""
    async with TickFeed(2, interval=interval, count=count, message=_stamped) as feed:
        feed.replicas[1].lag = lag
        print(json.dumps([str(url) for url in feed.urls]), flush=True)
        await asyncio.sleep(count * interval + 0.5)  # (and the lagging replica's last)


async def _latencies(legs: int, lag: float, count: int, interval: float) -> list[float]:
    """Microseconds from publication (in the feed's process) to the
    application, per tick; perf_counter_ns is one clock for both processes."""
    out: list[float] = []
    feed = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "bench.redundancy", "--serve", str(lag), str(count + 50), str(interval)),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert feed.stdout is not None
        urls = json.loads(await asyncio.wait_for(feed.stdout.readline(), 30))
        urls = urls if legs > 1 else urls[:1]
        options: dict[str, Any] = {"redundancy": legs} if legs > 1 else {}
        async with wsclient.connect(urls, sequence=_key, **options) as conn:
            async with asyncio.timeout(60):
                async for msg in conn:
                    now = time.perf_counter_ns()
                    tick = json.loads(msg.data)
                    if tick["seq"] > 50:  # (after both legs are up)
                        out.append((now - tick["ns"]) / 1000)
                    if tick["seq"] >= count + 50:
                        break
    finally:
        if feed.returncode is None:
            feed.kill()
        await feed.wait()
    return out


async def _outage(legs: int, seed: int) -> tuple[int, float]:
    """Ticks missed, and the longest wait between two ticks (virtual s),
    through a 1012 restart of replica A (down 2 s)."""
    clock = FakeClock()
    async with TickFeed(2, interval=0.1, count=600, clock=clock) as feed:
        urls = feed.urls if legs > 1 else feed.urls[:1]
        options: dict[str, Any] = {"redundancy": legs} if legs > 1 else {}
        seen: list[tuple[int, float]] = []
        async with wsclient.connect(
            urls, sequence=_key, clock=clock, rng=random.Random(seed), **options
        ) as conn:
            async for msg in conn:
                seen.append((_key(msg)[1], clock.now()))
                if seen[-1][0] == 20:
                    await feed.replicas[0].restart(1012, down=2.0)
                if seen[-1][0] >= 400:  # 38 s after the restart: past the 5-30 s wait
                    break
    seqs = [s for s, _ in seen]
    missed = seqs[-1] - seqs[0] + 1 - len(seqs)
    longest = max(b - a for (_, a), (_, b) in itertools.pairwise(seen))
    return missed, longest


def _fmt(s: Summary) -> str:
    return f"{s.median:9.0f} [{s.min:.0f}-{s.max:.0f}]"


async def _run(rounds: int, count: int, seeds: int) -> dict[str, Any]:
    configs: dict[str, Callable[[], Any]] = {
        "one connection": lambda: _latencies(1, 0.0, count, 0.002),
        "two legs, equal": lambda: _latencies(2, 0.0, count, 0.002),
        "two legs, one 5 ms slower": lambda: _latencies(2, 0.005, count, 0.002),
    }
    p50: dict[str, list[float]] = {name: [] for name in configs}
    p99: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, run in configs.items():
            sample = await run()
            p50[name].append(percentile(sample, 50))
            p99[name].append(percentile(sample, 99))
    outages = {legs: [await _outage(legs, seed) for seed in range(seeds)] for legs in (1, 2)}
    return {
        "latency_us": {
            name: {
                "p50": dataclasses.asdict(summarize(p50[name])),
                "p99": dataclasses.asdict(summarize(p99[name])),
            }
            for name in configs
        },
        "ratio_p50_two_legs_equal": statistics.median(
            a / b for a, b in zip(p50["two legs, equal"], p50["one connection"], strict=True)
        ),
        "ratio_p50_one_leg_slower": statistics.median(
            a / b
            for a, b in zip(p50["two legs, one 5 ms slower"], p50["one connection"], strict=True)
        ),
        "outage": {
            f"{legs} leg(s)": {
                "missed": dataclasses.asdict(summarize([m for m, _ in runs])),
                "longest_wait_s": dataclasses.asdict(summarize([w for _, w in runs])),
            }
            for legs, runs in outages.items()
        },
    }


def _render(result: dict[str, Any]) -> str:
    lines = ["latency, publication -> application (µs): p50 and p99, median [min-max]"]
    for name, figures in result["latency_us"].items():
        p50 = Summary(**figures["p50"])
        p99 = Summary(**figures["p99"])
        lines.append(f"  {name:28} p50 {_fmt(p50)}   p99 {_fmt(p99)}")
    lines.append(
        f"  p50 ratio, two legs / one: equal {result['ratio_p50_two_legs_equal']:.2f}, "
        f"one leg 5 ms slower {result['ratio_p50_one_leg_slower']:.2f}"
    )
    lines.append("outage through a 1012 restart (virtual time, over seeds)")
    for name, figures in result["outage"].items():
        missed = Summary(**figures["missed"])
        wait = Summary(**figures["longest_wait_s"])
        lines.append(
            f"  {name:10} ticks missed {missed.median:.0f} [{missed.min:.0f}-{missed.max:.0f}]"
            f"   longest wait {wait.median:.1f} s [{wait.min:.1f}-{wait.max:.1f}]"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redundancy", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run (CI)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=_RESULTS)
    parser.add_argument("--serve", nargs=3, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        lag, count, interval = args.serve
        asyncio.run(_serve(lag, int(count), interval))
        return 0
    rounds, count, seeds = (1, 100, 1) if args.quick else (args.rounds, 2000, 20)
    result = asyncio.run(_run(rounds, count, seeds))
    print(_render(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
