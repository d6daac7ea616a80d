"""The overhead benchmark's CI smoke runs, shared by the framework sessions: bare and ours, one tiny round
(fresh processes), and ours switched on and off in one process (the paired design)."""

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


def run_paired_smoke(framework: str, tmp_path: Path) -> dict:
    out = tmp_path / "paired.json"
    done = subprocess.run([sys.executable, str(BENCH), "--framework", framework, "--modes", "bare,ours",
                           "--pairs", "2", "--rounds", "1", "--runs", "10", "--warmup", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def check_paired(result: dict) -> None:
    """Bare blocks emit nothing, ours blocks the spans of the fresh-process design, and the figures add up."""
    assert result["design"] == "paired" and result["rounds"] == 1
    assert list(result["samples"]) == ["ours"]  # bare runs inside each mode's process, never on its own
    tool_call, ten_steps = result["workloads"]["tool_call"]["ours"], result["workloads"]["ten_steps"]["ours"]
    assert tool_call["restored_by_uninstrument"] and ten_steps["restored_by_uninstrument"]
    assert (tool_call["bare_spans_per_run"], tool_call["spans_per_run"], tool_call["complete_spans_per_run"]) == (0, 4, 4)
    assert (ten_steps["bare_spans_per_run"], ten_steps["spans_per_run"], ten_steps["complete_spans_per_run"]) == (
        0, 22, 22)
    sample = result["samples"]["ours"][0]["tool_call"]
    assert (sample["pairs"], sample["block_runs"]) == (2, 5)
    assert len(sample["added_us_per_run_pairs"]) == 2
    assert tool_call["added_us_per_run"] == tool_call["added_us_per_run_processes"][0] == sample["added_us_per_run"]
    assert tool_call["added_us_per_complete_span"] == tool_call["added_us_per_run"] / 4
