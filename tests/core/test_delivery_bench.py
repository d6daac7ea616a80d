"""CI smoke run of benchmarks/bench_delivery.py with tiny sizes: it runs and produces its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "benchmarks" / "bench_delivery.py"


def test_delivery_benchmark_produces_results(tmp_path):
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, str(BENCH), "--reports", "20", "--rounds", "1", "--gap-ms", "1",
                           "--idle-s", "0.2", "--backlog", "30", "--backlog-senders", "1", "4",
                           "--api-latency-ms", "5", "--busy-threads", "1", "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert set(result["modes"]) == {"paced/model", "burst/model", "paced/wire", "burst/wire",
                                    "exporter/back-to-back", "exporter/paced"}
    for row in result["modes"].values():
        assert len(row["rounds_us"]) == 1
    assert result["idle"]["cpu_ms_per_s"] >= 0
    [busy] = result["busy"]
    assert (busy["threads"], busy["reports"], busy["all_sent"]) == (1, 20, True) and busy["senders"] >= 1
    assert 0 < busy["post_ms_p50"] <= busy["post_ms_p99"] <= busy["post_ms_max"]
    assert [(row["reports"], row["senders"], row["api_latency_ms"], len(row["rounds_per_s"]))
            for row in result["backlog"]] == [(30, 1, 5.0, 1), (30, 4, 5.0, 1)]
