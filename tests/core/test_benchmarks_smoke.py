"""CI smoke runs of the memory and report-latency benchmarks with tiny sizes: they run and produce results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def run(script: str, *args: str, tmp_path: Path) -> dict:
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args, "--json", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def test_memory_benchmark_holds_the_open_runs_and_delivers_their_reports(tmp_path):
    result = run("bench_memory.py", "--traces", "40", tmp_path=tmp_path)
    rows = {row["configuration"]: row for row in result["configurations"]}
    assert list(rows) == ["sdk_only", "default_bound", "raised_bound"]
    assert rows["sdk_only"]["open"] == {"open_traces": 0, "buffered_spans": 0, "ancestry_notes": 0}
    for name in ("default_bound", "raised_bound"):
        # Three ended spans under each open agent span wait in the assembler; every run is reported at the end.
        assert (rows[name]["open"]["open_traces"], rows[name]["open"]["buffered_spans"]) == (40, 120)
        assert (rows[name]["reports_delivered"], rows[name]["reports_with_tokens"]) == (40, 40)
        assert rows[name]["rss_open_mib"] > 0


def test_report_latency_benchmark_measures_each_report_to_the_dev_server(tmp_path):
    result = run("bench_report_latency.py", "--runs", "3", "--gap-ms", "1", tmp_path=tmp_path)
    assert result["runs"] == 3
    assert 0 < result["latency_ms_p50"] <= result["latency_ms_p99"] <= result["latency_ms_max"]
