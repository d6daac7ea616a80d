"""Exporter benchmarks: assembler throughput (spans/s) and ``export()`` latency for 512-span batches.

    python benchmarks/bench_exporter.py                       # the figures in docs/benchmarks.md
    python benchmarks/bench_exporter.py --traces 50 --batches 3   # a quick smoke run

Prints one JSON object. The delivery worker runs during the export measurement, answered in-process by
``httpx.MockTransport`` (200), so what is measured is our own work: assembly, the SQLite spool and the
worker's share of the CPU, not a network.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xpander_otel import Configuration, semconv
from xpander_otel.exporter import XpanderSpanExporter
from xpander_otel.exporter.assembler import Assembler, AssemblerSettings
from xpander_otel.exporter.spans import SpanRecord

SPANS_PER_RUN = 8  # agent, 3 chats, 3 tools, 1 nested helper span: a typical tool-using run
BATCH = 512


def make_runs(tracer, runs: int) -> None:
    for n in range(runs):
        with tracer.start_as_current_span("invoke_agent weather", attributes={
                semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT, semconv.AGENT_NAME: "weather",
                semconv.XPANDER_AGENT_ID: "agent-bench", semconv.XPANDER_TASK_INPUT: f"question {n}"}):
            for step in range(3):
                with tracer.start_as_current_span("chat gpt-4.1", attributes={
                        semconv.OPERATION_NAME: semconv.OP_CHAT, semconv.REQUEST_MODEL: "gpt-4.1",
                        semconv.USAGE_INPUT_TOKENS: 50 + step, semconv.USAGE_OUTPUT_TOKENS: 10,
                        semconv.RESPONSE_FINISH_REASONS: ("stop",)}):
                    pass
                with tracer.start_as_current_span(f"execute_tool tool_{step}", attributes={
                        semconv.OPERATION_NAME: semconv.OP_EXECUTE_TOOL, semconv.TOOL_NAME: f"tool_{step}"}):
                    if step == 0:
                        with tracer.start_as_current_span("http GET"):
                            pass


def finished_spans(runs: int):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    make_runs(provider.get_tracer("bench"), runs)
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    return spans


def bench_assembler(traces: int) -> dict:
    spans = finished_spans(traces)
    records = [SpanRecord.from_readable_span(s) for s in spans]
    assembler = Assembler(AssemblerSettings(default_agent_id="agent-bench", max_open_traces=traces + 1))
    started = time.perf_counter()
    reports = 0
    for i in range(0, len(records), BATCH):
        reports += len(assembler.add(records[i:i + BATCH], now=float(i)))
    elapsed = time.perf_counter() - started
    assert reports == traces, (reports, traces)
    convert_started = time.perf_counter()
    for s in spans:
        SpanRecord.from_readable_span(s)
    convert_elapsed = time.perf_counter() - convert_started
    return {"spans": len(records), "reports": reports, "assembler_spans_per_s": round(len(records) / elapsed),
            "record_from_readable_span_per_s": round(len(spans) / convert_elapsed)}


def bench_export(batches: int) -> dict:
    runs_per_batch = BATCH // SPANS_PER_RUN
    all_spans = finished_spans(runs_per_batch * batches)
    with tempfile.TemporaryDirectory() as tmp:
        exporter = XpanderSpanExporter(
            configuration=Configuration(api_key="bench-key-0000", base_url="http://127.0.0.1:9"),
            spool_path=Path(tmp) / "spool.sqlite3",
            transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
        )
        latencies = []
        for b in range(batches):
            batch = all_spans[b * BATCH:(b + 1) * BATCH]
            started = time.perf_counter()
            exporter.export(batch)
            latencies.append((time.perf_counter() - started) * 1000)
        flushed = exporter.force_flush(60_000)
        exporter.shutdown()
    latencies.sort()
    return {"batches": batches, "batch_spans": BATCH, "reports_per_batch": runs_per_batch, "delivered": flushed,
            "export_ms_p50": round(statistics.median(latencies), 2),
            "export_ms_p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
            "export_ms_max": round(latencies[-1], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=5_000, help="runs fed to the assembler")
    parser.add_argument("--batches", type=int, default=200, help="512-span batches given to export()")
    args = parser.parse_args(argv)
    result = {"python": platform.python_version(), "machine": platform.machine(),
              **bench_assembler(args.traces), **bench_export(args.batches)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
