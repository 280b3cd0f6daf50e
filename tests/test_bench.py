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
