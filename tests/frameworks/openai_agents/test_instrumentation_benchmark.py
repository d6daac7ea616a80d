"""CI smoke test of benchmarks/bench_instrumentation.py: it runs and measures what it says."""

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_instrumentation.py"


def test_benchmark_runs():
    spec = importlib.util.spec_from_file_location("bench_instrumentation", BENCH)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up there
    spec.loader.exec_module(bench)

    figures = bench.measure("openai_agents", runs=2, rounds=2)

    assert figures["spans_per_run"] == 4  # invoke_agent, chat, execute_tool, chat
    assert figures["baseline_us"] > 0 and figures["instrumented_us"] > 0
