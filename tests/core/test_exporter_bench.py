"""CI smoke run of benchmarks/bench_exporter.py with tiny sizes: it runs and produces its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[2] / "benchmarks" / "bench_exporter.py"


def test_exporter_benchmark_produces_results():
    done = subprocess.run([sys.executable, str(BENCH), "--traces", "20", "--batches", "2", "--processor-runs", "10",
                           "--processor-rounds", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["spans"], result["reports"], result["batches"], result["batch_spans"]) == (160, 20, 2, 512)
    assert result["delivered"] is True
    assert result["assembler_spans_per_s"] > 0
    assert result["batch_by_batch_spans_per_s"] > 0 and result["batch_by_batch_spans_per_cpu_s"] > 0
    assert 0 < result["export_ms_p50"] <= result["export_ms_p99"] <= result["export_ms_max"]
    assert (result["processor_runs"], result["processor_spans_per_run"]) == (20, 8)
    assert result["processor_loss_check_ns"] > 0
    assert all(result[f"processor_{name}_us_per_run"] > 0
               for name in ("sdk_batch_processor", "second_batch_processor", "xpander_processor"))
    assert {"processor_second_batch_processor_added_us_per_span", "processor_xpander_processor_added_us_per_span"} <= set(result)
