"""Exporter benchmarks: assembler throughput (spans/s), ``export()`` latency for 512-span batches, and the
span processor's cost on the application's thread.

    python benchmarks/bench_exporter.py                       # the figures in docs/benchmarks.md
    python benchmarks/bench_exporter.py --traces 50 --batches 3 --processor-rounds 2   # a quick smoke run

Prints one JSON object. The delivery worker runs during the export measurement, answered in-process by
``httpx.MockTransport`` (200), so what is measured is our own work: assembly, the SQLite spool and the
worker's share of the CPU, not a network.

``export()`` hands each batch to the exporter's assembly thread, so its latency (``export_ms_*``) is
measured with batches paced the way a batch processor that the exporter keeps up with sends them: the
next batch once the previous one's reports are spooled (``export_to_spooled_ms_*``). ``burst_*`` sends
every batch back to back, faster than they are assembled: export() then waits for room in the hand-off.

``processor_*``: the application thread's CPU per run (8 spans started and ended) under the SDK with one
batch processor, with a second plain batch processor, and with ``XpanderSpanProcessor`` in its place; the
best of interleaved rounds, so that a busy machine's noise stays out. The exporter's own threads run
meanwhile and are not counted: this is what the application waits for. ``processor_loss_check_ns`` times
the check ``XpanderSpanProcessor`` makes at every span end for a full queue (best of 7 timeit repeats).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import sys
import tempfile
import time
import timeit
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xpander_otel import Configuration, semconv
from xpander_otel.exporter import XpanderSpanExporter, XpanderSpanProcessor
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
    """The SDK spans of ``runs`` runs, moved out of the garbage collector's sight.

    A batch processor holds a few thousand spans at a time; this harness holds all of them (40,000 by
    default), and every full collection during a measure would walk them all and charge that to the
    code under test. ``gc.freeze()`` keeps the input out of collections; what the measured code
    allocates (records, buffers, reports) is still collected as usual.
    """
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    make_runs(provider.get_tracer("bench"), runs)
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    gc.collect()
    gc.freeze()
    return spans


def bench_assembler(traces: int, rounds: int = 3) -> dict:
    """Conversion and assembly, timed apart and together, by the clock and by this process's CPU time
    (the CPU time is what to compare on a shared machine), then batch by batch as the exporter runs them
    (``batch_by_batch_*``). Best of ``rounds``."""
    spans = finished_spans(traces)
    convert_wall, convert_cpu, add_wall, add_cpu = [], [], [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        records = [SpanRecord.from_readable_span(s) for s in spans]
        convert_wall.append(time.perf_counter() - wall)
        convert_cpu.append(time.process_time() - cpu)
        assembler = Assembler(AssemblerSettings(default_agent_id="agent-bench", max_open_traces=traces + 1))
        reports = 0
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(records), BATCH):
            reports += len(assembler.add(records[i:i + BATCH], now=float(i)))
        add_wall.append(time.perf_counter() - wall)
        add_cpu.append(time.process_time() - cpu)
        assert reports == traces, (reports, traces)
    pipeline_wall, pipeline_cpu = [], []
    for _ in range(rounds):
        # As the exporter does it: each batch converted, then assembled, by an assembler with the default
        # settings (it keeps at most 2,000 traces); no list of every record alive at once.
        assembler = Assembler(AssemblerSettings(default_agent_id="agent-bench"))
        reports = 0
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(spans), BATCH):
            records = [SpanRecord.from_readable_span(s) for s in spans[i:i + BATCH]]
            reports += len(assembler.add(records, now=float(i)))
        pipeline_wall.append(time.perf_counter() - wall)
        pipeline_cpu.append(time.process_time() - cpu)
        assert reports == traces, (reports, traces)
    n = len(spans)
    return {"spans": n, "reports": reports, "assembler_spans_per_s": round(n / min(add_wall)),
            "batch_by_batch_spans_per_s": round(n / min(pipeline_wall)),
            "batch_by_batch_spans_per_cpu_s": round(n / min(pipeline_cpu)),
            "record_from_readable_span_per_s": round(n / min(convert_wall)),
            "convert_and_assemble_spans_per_s": round(n / (min(convert_wall) + min(add_wall))),
            "convert_and_assemble_spans_per_cpu_s": round(n / (min(convert_cpu) + min(add_cpu)))}


def bench_export(batches: int) -> dict:
    runs_per_batch = BATCH // SPANS_PER_RUN
    all_spans = finished_spans(runs_per_batch * batches)
    batch_list = [all_spans[b * BATCH:(b + 1) * BATCH] for b in range(batches)]
    with tempfile.TemporaryDirectory() as tmp:
        paced = _exporter(Path(tmp) / "paced.sqlite3")
        latencies, spooled = [], []
        for batch in batch_list:
            started = time.perf_counter()
            paced.export(batch)
            latencies.append((time.perf_counter() - started) * 1000)
            # Paced like a batch processor that the exporter keeps up with: the next batch comes once this
            # one's reports are spooled (export() itself returned long before).
            paced._wait_assembled(60)
            spooled.append((time.perf_counter() - started) * 1000)
        flushed = paced.force_flush(60_000)
        paced.shutdown()
        burst = _exporter(Path(tmp) / "burst.sqlite3")
        burst_latencies = []
        burst_started = time.perf_counter()
        for batch in batch_list:  # back to back: more spans than the exporter assembles, so export() waits
            started = time.perf_counter()
            burst.export(batch)
            burst_latencies.append((time.perf_counter() - started) * 1000)
        burst._wait_assembled(600)
        burst_elapsed = time.perf_counter() - burst_started
        flushed = burst.force_flush(60_000) and flushed
        burst.shutdown()
    return {"batches": batches, "batch_spans": BATCH, "reports_per_batch": runs_per_batch, "delivered": flushed,
            "export_ms_p50": _percentile(latencies, 0.5), "export_ms_p99": _percentile(latencies, 0.99),
            "export_ms_max": _percentile(latencies, 1.0),
            "export_to_spooled_ms_p50": _percentile(spooled, 0.5),
            "export_to_spooled_ms_p99": _percentile(spooled, 0.99),
            "burst_export_ms_p50": _percentile(burst_latencies, 0.5),
            "burst_export_ms_p99": _percentile(burst_latencies, 0.99),
            "burst_spans_spooled_per_s": round(len(all_spans) / burst_elapsed)}


class _Discard(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


def bench_processor(runs: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        exporter = _exporter(Path(tmp) / "processor.sqlite3")
        added = {"sdk_batch_processor": None,
                 "second_batch_processor": BatchSpanProcessor(_Discard(), schedule_delay_millis=200,
                                                              max_queue_size=65_536),
                 "xpander_processor": XpanderSpanProcessor(exporter)}
        providers = {}
        for name, processor in added.items():
            providers[name] = TracerProvider()
            providers[name].add_span_processor(BatchSpanProcessor(_Discard()))  # the application's own
            if processor is not None:
                providers[name].add_span_processor(processor)
        best = dict.fromkeys(providers, math.inf)
        for _ in range(rounds):
            for name, provider in providers.items():
                started = time.thread_time()
                make_runs(provider.get_tracer("bench"), runs)
                best[name] = min(best[name], (time.thread_time() - started) / runs * 1e6)
                provider.force_flush()
            exporter.force_flush(60_000)  # reports delivered between rounds, not piling up in the spool
        # The loss check XpanderSpanProcessor makes at every span end, alone (queue not full).
        loss_check_ns = min(timeit.repeat(added["xpander_processor"]._note_if_dropping, number=runs * 100,
                                          repeat=7)) / (runs * 100) * 1e9
        for provider in providers.values():
            provider.shutdown()
    base = best["sdk_batch_processor"]
    return {"processor_runs": runs * rounds, "processor_spans_per_run": SPANS_PER_RUN,
            "processor_loss_check_ns": round(loss_check_ns, 1),
            **{f"processor_{name}_us_per_run": round(value, 1) for name, value in best.items()},
            **{f"processor_{name}_added_us_per_span": round((best[name] - base) / SPANS_PER_RUN, 2)
               for name in ("second_batch_processor", "xpander_processor")}}


def _exporter(spool_path: Path) -> XpanderSpanExporter:
    return XpanderSpanExporter(
        configuration=Configuration(api_key="bench-key-0000", base_url="http://127.0.0.1:9"),
        spool_path=spool_path, watch_global_provider=False,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})),
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=5_000, help="runs fed to the assembler")
    parser.add_argument("--batches", type=int, default=200, help="512-span batches given to export()")
    parser.add_argument("--processor-runs", type=int, default=200, help="runs per round of the processor measure")
    parser.add_argument("--processor-rounds", type=int, default=15, help="interleaved rounds (the best counts)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = {"python": platform.python_version(), "machine": platform.machine(),
              **bench_assembler(args.traces), **bench_export(args.batches),
              **bench_processor(args.processor_runs, args.processor_rounds)}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
