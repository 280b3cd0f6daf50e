"""The command line: ``python -m bench [--quick] [options]``.

It starts the server process, runs the phases asked for, prints the tables,
writes the JSON (and optionally a chart), and always ends the server: on
errors, Ctrl-C and SIGTERM too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import platform
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from . import chart, clients, gap, latency, scale, throughput
from .process import ChildFailed, ServerProcess
from .report import Results, render, write_json
from .usage import pin_apart, self_cpu_seconds

__all__ = ["main"]

PHASES = ("throughput", "gap", "scale", "latency")
_RESULTS = Path(__file__).resolve().parent / "results"
_DESCRIPTION = """\
Benchmark wsclient's receive path against raw aiohttp (and websockets and
picows when installed). A WebSocket server runs in a separate process on
127.0.0.1 and writes pre-built frames, so the client is the bottleneck; the
report shows both processes' CPU time. Phases, each interleaved over
--rounds rounds and reported as median [min-max]:

  throughput  messages/s for 150 B, 4 KiB and 64 KiB text messages; ratios
              wsclient / aiohttp async-for and wsclient / lean receive()
  gap         server close (4000, policy says reconnect now) -> first message
              on the new connection, against a hand-written aiohttp reconnect
  scale       RSS per connection and time to open --connections idle
              connections (heartbeat on), wsclient Session vs raw aiohttp
  latency     p50/p99 receive latency at --rate messages/s

Only ratios measured side by side carry over to another machine.
"""
_EPILOG = """\
examples:
  python -m bench                      full run (about 2-3 minutes)
  python -m bench --quick              smoke test (a few seconds, CI)
  python -m bench --only throughput --rounds 9 --chart bench/results/chart.png
  python -m bench --only scale --connections 10000
"""


@dataclass(frozen=True, slots=True)
class Settings:
    """What to run, with the --quick defaults applied."""

    mode: str
    phases: tuple[str, ...]
    rounds: int
    seconds: float
    sizes: tuple[int, ...]
    fixed_counts: dict[int, int] | None
    connections: int
    heartbeat: float
    reconnects: int
    rate: int
    latency_seconds: float
    json_path: Path | None
    chart_path: Path | None
    pin: bool
    quiet: bool

    def log(self, line: str) -> None:
        """A progress line on stderr, unless --quiet."""
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="tiny sizes, 1 round: a smoke test in seconds")
    add(
        "--only",
        action="append",
        choices=PHASES,
        metavar="PHASE",
        help=f"run only this phase (repeatable; one of {', '.join(PHASES)})",
    )
    add("--rounds", type=int, metavar="N", help="rounds per phase (default 5; --quick 1)")
    add(
        "--seconds",
        type=float,
        metavar="S",
        default=0.5,
        help="target length of one throughput run in seconds (default 0.5)",
    )
    add(
        "--sizes",
        type=_sizes,
        metavar="B,B,...",
        default=(150, 4096, 65536),
        help="message sizes in bytes, comma-separated (default 150,4096,65536)",
    )
    add(
        "--connections",
        type=int,
        metavar="N",
        help="scale phase: idle connections (default 1000; --quick 20)",
    )
    add(
        "--heartbeat",
        type=float,
        metavar="S",
        default=20.0,
        help="scale phase: heartbeat, s (default 20)",
    )
    add(
        "--reconnects",
        type=int,
        metavar="N",
        help="gap phase: reconnects per round (default 20; --quick 3)",
    )
    add(
        "--rate",
        type=int,
        metavar="N",
        default=1000,
        help="latency phase: messages/s (default 1000)",
    )
    add(
        "--latency-seconds",
        type=float,
        metavar="S",
        help="latency phase: length of one run, s (default 2; --quick 0.2)",
    )
    add(
        "--json",
        type=Path,
        metavar="PATH",
        help="write the results here (default bench/results/latest.json; "
        "--quick: bench/results/quick.json)",
    )
    add("--no-json", action="store_true", help="write no JSON file")
    add("--chart", type=Path, metavar="PNG", help="also draw a chart (needs matplotlib)")
    add(
        "--no-pin",
        action="store_true",
        help="do not pin client and server to different CPUs (pinned by default)",
    )
    add("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(part) for part in text.split(",") if part.strip())
    if not sizes or any(not 2 <= s <= 16 * 1024 * 1024 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be 2 bytes to 16 MiB")
    return sizes


def _settings(argv: list[str] | None) -> Settings:
    parser = _parser()
    args = parser.parse_args(argv)
    quick: bool = args.quick

    def pick(value: Any, full: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else full)

    settings = Settings(
        mode="quick" if quick else "full",
        phases=tuple(p for p in PHASES if args.only is None or p in args.only),
        rounds=pick(args.rounds, 5, 1),
        seconds=args.seconds,
        sizes=args.sizes,
        fixed_counts={s: max(50, min(2000, 1_000_000 // s)) for s in args.sizes}
        if quick
        else None,
        connections=pick(args.connections, 1000, 20),
        heartbeat=args.heartbeat,
        reconnects=pick(args.reconnects, 20, 3),
        rate=args.rate,
        latency_seconds=pick(args.latency_seconds, 2.0, 0.2),
        json_path=None
        if args.no_json
        else pick(args.json, _RESULTS / "latest.json", _RESULTS / "quick.json"),
        chart_path=args.chart,
        pin=not args.no_pin,
        quiet=args.quiet,
    )
    checks = (
        (settings.rounds >= 1, "--rounds must be at least 1"),
        (0 < settings.seconds <= 60, "--seconds must be in (0, 60]"),
        (1 <= settings.connections <= 100_000, "--connections must be 1 to 100,000"),
        (settings.heartbeat > 0, "--heartbeat must be positive"),
        (1 <= settings.reconnects <= 1000, "--reconnects must be 1 to 1000"),
        (1 <= settings.rate <= 100_000, "--rate must be 1 to 100,000"),
        (0 < settings.latency_seconds <= 60, "--latency-seconds must be in (0, 60]"),
    )
    for ok, message in checks:
        if not ok:
            parser.error(message)
    return settings


def _versions() -> dict[str, str]:
    found = {}
    names = {"wsclient": "aiohttp-wsclient"}  # label -> distribution, where they differ
    for name in ("wsclient", "aiohttp", "tenacity", "websockets", "picows"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(names.get(name, name))
    return found


async def _in_loop(server: ServerProcess, settings: Settings, results: Results) -> None:
    """The event-loop phases, stopped at once if the server process dies
    (wsclient would otherwise keep reconnecting until a phase times out)."""
    phases = asyncio.create_task(_loop_phases(server, settings, results))
    watchdog = asyncio.create_task(_watch(server))
    try:
        await asyncio.wait({phases, watchdog}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (phases, watchdog):
            task.cancel()
        await asyncio.gather(phases, watchdog, return_exceptions=True)
    if not watchdog.cancelled():
        watchdog.result()  # raises ChildFailed
    phases.result()


async def _watch(server: ServerProcess) -> None:
    """Raise ChildFailed when the server exits (a pidfd becomes readable)."""
    loop = asyncio.get_running_loop()
    exited = asyncio.Event()
    pidfd = os.pidfd_open(server.pid)
    try:
        loop.add_reader(pidfd, exited.set)
        try:
            await exited.wait()
        finally:
            loop.remove_reader(pidfd)
    finally:
        os.close(pidfd)
    raise ChildFailed("the server process exited during the run")


async def _loop_phases(server: ServerProcess, settings: Settings, results: Results) -> None:
    log = settings.log
    if "throughput" in settings.phases:
        ready, skipped = clients.available()
        for name in skipped:
            log(f"throughput: {name} is not installed; skipped")
        results.throughput = await throughput.measure(
            server,
            ready,
            sizes=settings.sizes,
            rounds=settings.rounds,
            seconds=settings.seconds,
            fixed_counts=settings.fixed_counts,
            log=log,
        )
        results.throughput.skipped = skipped
    if "gap" in settings.phases:
        results.gap = await gap.measure(
            server, rounds=settings.rounds, reconnects=settings.reconnects, log=log
        )
    if "latency" in settings.phases:
        results.latency = await latency.measure(
            server,
            rounds=settings.rounds,
            rate=settings.rate,
            seconds=settings.latency_seconds,
            log=log,
        )


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that ends the server


def run(settings: Settings) -> Results:
    """Start the server, run the phases, end the server; the results."""
    started = time.perf_counter()
    results = Results(
        meta={
            "mode": settings.mode,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "versions": _versions(),
            "settings": _settings_json(settings),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "load_before": os.getloadavg()[0],
        }
    )
    affinity = os.sched_getaffinity(0)
    with ServerProcess() as server:
        try:
            pinned = pin_apart(server.pid) if settings.pin else None
            results.meta["pinned"] = {"client": pinned[0], "server": pinned[1]} if pinned else None
            cpu_before, own_before = server.cpu_seconds(), self_cpu_seconds()
            asyncio.run(_in_loop(server, settings, results))
            if "scale" in settings.phases:
                results.scale = scale.measure(
                    server,
                    rounds=settings.rounds,
                    connections=settings.connections,
                    heartbeat=settings.heartbeat,
                    log=settings.log,
                )
            results.meta["server_cpu_seconds"] = server.cpu_seconds() - cpu_before
            results.meta["client_cpu_seconds"] = self_cpu_seconds() - own_before
        finally:
            os.sched_setaffinity(0, affinity)
    results.meta["seconds"] = time.perf_counter() - started
    results.meta["load_after"] = os.getloadavg()[0]
    return results


def _settings_json(settings: Settings) -> dict[str, Any]:
    return {
        "phases": list(settings.phases),
        "rounds": settings.rounds,
        "seconds": settings.seconds,
        "sizes": list(settings.sizes),
        "connections": settings.connections,
        "heartbeat": settings.heartbeat,
        "reconnects": settings.reconnects,
        "rate": settings.rate,
        "latency_seconds": settings.latency_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 1 on a failure, 130 on Ctrl-C."""
    settings = _settings(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        results = run(settings)
    except KeyboardInterrupt:
        print("interrupted; the server process was ended", file=sys.stderr)
        return 130
    except (ChildFailed, RuntimeError, OSError, TimeoutError) as exc:
        print(f"benchmark failed: {type(exc).__name__}: {exc or 'timed out'}", file=sys.stderr)
        return 1
    print(render(results))
    if settings.json_path is not None:
        write_json(results, settings.json_path)
        print(f"results written to {settings.json_path}")
    if settings.chart_path is not None:
        if chart.available():
            chart.draw(results, settings.chart_path)
            print(f"chart written to {settings.chart_path}")
        else:
            print("no chart: matplotlib is not installed (pip install matplotlib)")
    return 0
