"""Memory with many agent runs open at once: RSS and the exporter's buffers, bounded by configuration.

    python benchmarks/bench_memory.py                       # 10,000 open runs, the figures in docs/benchmarks.md
    python benchmarks/bench_memory.py --traces 200          # a quick smoke run

Each configuration runs in a fresh process: start N agent spans and leave them open, end a model call, a
second model call and a tool call under each (so their spans reach the exporter and wait in the assembler
for their task root), measure; then end every agent span, let the reports be delivered (answered in-process
by ``httpx.MockTransport``), measure again. ``sdk_only`` is the same program without our exporter, so the
difference is what we hold. The exporter's buffers are read from its private state (a benchmark may).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# name -> max_open_traces (None: no xpander exporter at all)
CONFIGURATIONS = {"sdk_only": None, "default_bound": 2_000, "raised_bound": 10_000}


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def buffers(exporter: Any) -> dict[str, int]:
    if exporter is None:
        return {"open_traces": 0, "buffered_spans": 0, "ancestry_notes": 0}
    assembler = exporter._assembler
    return {"open_traces": assembler.open_traces,
            "buffered_spans": sum(len(t.spans) for t in assembler._traces.values()),
            "ancestry_notes": len(exporter._ancestry)}


def measure(name: str, traces: int) -> dict[str, Any]:
    import httpx
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import set_span_in_context

    from xpander_otel import Configuration, semconv
    from xpander_otel.config import ExporterSettings
    from xpander_otel.exporter import XpanderSpanExporter, XpanderSpanProcessor

    class Discard(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    delivered: list[bool] = []  # per report: did it keep its runs' token usage (its model spans)?

    def answer(request):
        delivered.append(json.loads(request.content)["tokens"]["prompt_tokens"] > 0)
        return httpx.Response(200, json={})
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=100_000))
    exporter = processor = None
    with tempfile.TemporaryDirectory() as tmp:
        if CONFIGURATIONS[name] is not None:
            exporter = XpanderSpanExporter(
                "agent-bench", configuration=Configuration(api_key="bench-key-0000", base_url="http://127.0.0.1:9"),
                settings=ExporterSettings(spool_path=str(Path(tmp) / "spool.sqlite3"),
                                          max_open_traces=CONFIGURATIONS[name]),
                watch_global_provider=False,
                transport=httpx.MockTransport(answer))
            processor = XpanderSpanProcessor(exporter, max_queue_size=100_000)
            provider.add_span_processor(processor)
        tracer = provider.get_tracer("bench")
        gc.collect()
        rss_start = rss_mib()
        agents = []
        for n in range(traces):
            agent = tracer.start_span("invoke_agent weather", attributes={
                semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT, semconv.AGENT_NAME: "weather",
                semconv.XPANDER_TASK_INPUT: f"What is the weather in city {n}?"})
            context = set_span_in_context(agent)
            for step, operation in enumerate((semconv.OP_CHAT, semconv.OP_EXECUTE_TOOL, semconv.OP_CHAT)):
                attributes = ({semconv.OPERATION_NAME: operation, semconv.TOOL_NAME: "get_weather"}
                              if operation == semconv.OP_EXECUTE_TOOL else
                              {semconv.OPERATION_NAME: operation, semconv.REQUEST_MODEL: "gpt-4.1",
                               semconv.USAGE_INPUT_TOKENS: 50 + step, semconv.USAGE_OUTPUT_TOKENS: 10})
                tracer.start_span(f"{operation} step", context=context, attributes=attributes).end()
            agents.append(agent)
        provider.force_flush(60_000)
        if exporter is not None:
            exporter.force_flush(60_000)  # its assembly thread has taken in every exported span
        gc.collect()
        open_rss, open_buffers = rss_mib(), buffers(exporter)
        for agent in agents:
            agent.end()
        provider.force_flush(60_000)
        if exporter is not None:
            exporter.force_flush(120_000)
        agents.clear()
        gc.collect()
        result = {"configuration": name, "max_open_traces": CONFIGURATIONS[name], "open_runs": traces,
                  "rss_start_mib": round(rss_start, 1), "rss_open_mib": round(open_rss, 1),
                  "open": open_buffers, "rss_after_mib": round(rss_mib(), 1), "after": buffers(exporter),
                  "reports_delivered": len(delivered), "reports_with_tokens": sum(delivered)}
        provider.shutdown()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000, help="agent runs open at once")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--worker", choices=CONFIGURATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker, args.traces)))
        return 0
    rows = []
    for name in CONFIGURATIONS:
        out = subprocess.run([sys.executable, __file__, "--worker", name, "--traces", str(args.traces)],
                             check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = rows[0]["rss_open_mib"] - rows[0]["rss_start_mib"]
    print("| configuration | max open traces | RSS growth with runs open (MiB) | over SDK only (MiB) | "
          "open traces held | spans held | ancestry notes | RSS after (MiB) | traces held after | "
          "spans held after | reports | with tokens |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        growth = row["rss_open_mib"] - row["rss_start_mib"]
        print(f"| {row['configuration']} | {row['max_open_traces'] or '-'} | {growth:.1f} | {growth - base:.1f} | "
              f"{row['open']['open_traces']} | {row['open']['buffered_spans']} | {row['open']['ancestry_notes']} | "
              f"{row['rss_after_mib']:.1f} | {row['after']['open_traces']} | {row['after']['buffered_spans']} | "
              f"{row['reports_delivered']} | {row['reports_with_tokens']} |")
    result = {"python": platform.python_version(), "machine": platform.machine(), "open_runs": args.traces,
              "configurations": rows}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
