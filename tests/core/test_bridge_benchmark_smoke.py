"""CI smoke run of benchmarks/bench_bridge.py: it runs and produces figures for both protocols."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_bridge.py"


def test_bridge_benchmark_runs_and_reports_figures():
    done = subprocess.run([sys.executable, str(BENCH), "--duration", "1", "--connections", "2",
                           "--grace-seconds", "0.2"], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)["results"]
    assert [r["protocol"] for r in results] == ["OTLP/HTTP protobuf", "OTLP/gRPC"]
    for result in results:
        assert result["spans_sent"] > 0 and result["accepted_spans_per_s"] > 0, json.dumps(result)
        assert result["reports_assembled"] == result["spans_sent"] // 8
        assert result["rss_mib_peak"] > 0
