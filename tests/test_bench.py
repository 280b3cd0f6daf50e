"""The benchmark must never rot: its quick mode runs in CI (no speed asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_benchmark_runs_quickly_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    command = [sys.executable, "-m", "bench", "--quick", "-q", "--json", str(out)]
    result = subprocess.run(
        command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert figures  # every phase reported something


def test_the_redundancy_benchmark_runs_quickly_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "redundancy.json"
    command = [sys.executable, "-m", "bench.redundancy", "--quick", "--out", str(out)]
    result = subprocess.run(
        command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert set(figures["latency_us"]) == {
        "one connection",
        "two legs, equal",
        "two legs, one 5 ms slower",
    }
    assert figures["outage"]["2 leg(s)"]["missed"]["max"] == 0  # (virtual time: exact)
    assert figures["outage"]["1 leg(s)"]["missed"]["min"] >= 50  # 1012: 5-30 s
