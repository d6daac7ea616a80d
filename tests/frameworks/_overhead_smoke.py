"""The overhead benchmark's CI smoke run, shared by the framework sessions: bare and ours, one tiny round."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "benchmarks" / "bench_overhead.py"


def run_overhead_smoke(framework: str, tmp_path: Path) -> dict:
    out = tmp_path / "overhead.json"
    done = subprocess.run([sys.executable, str(BENCH), "--framework", framework, "--modes", "bare,ours",
                           "--rounds", "1", "--runs", "5", "--warmup", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())
