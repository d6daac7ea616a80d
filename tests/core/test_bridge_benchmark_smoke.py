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


def test_bridge_benchmark_runs_two_replicas_on_one_spool():
    done = subprocess.run([sys.executable, str(BENCH), "--duration", "1", "--connections", "2", "--bridges", "2",
                           "--protocols", "http", "--grace-seconds", "0.2"], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    [result] = json.loads(done.stdout)["results"]
    assert result["bridges"] == 2 and result["spans_sent"] > 0, json.dumps(result)
    received = result["spans_received_per_bridge"]
    assert len(received) == 2 and min(received) > 0 and sum(received) == result["spans_sent"], received
    # Counters summed over both bridges: every run assembled once, in one of them.
    assert result["reports_assembled"] == result["spans_sent"] // 8
