"""Report latency: from the end of a task root span to the report accepted by the dev server, p50/p99.

    python benchmarks/bench_report_latency.py                 # the figures in docs/benchmarks.md
    python benchmarks/bench_report_latency.py --runs 5        # a quick smoke run

The dev server (``xpander-otel serve``) runs in its own process on a free loopback port with a fresh
database, and is stopped at the end. The exporter is set up the way ``configure()`` does it
(``XpanderSpanProcessor``); a transport wrapper notes when the server's 2xx answer to each report arrives.
Runs are spaced out (``--gap-ms``) so this measures latency, not a backlog.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _processes import start_until_healthy

AGENT_ID = "weather-agent"  # one of the dev server's example agents


class NoteAccepted(httpx.BaseTransport):
    """Delegates to a real transport and notes when each report (by task id) was accepted."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.accepted: dict[str, float] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.url.path.endswith("/report_task"):
            response.read()
            if response.is_success:
                self.accepted.setdefault(json.loads(request.content)["id"], time.perf_counter())
        return response

    def close(self) -> None:
        self._inner.close()


def start_devserver(db: Path) -> tuple[subprocess.Popen, str]:
    """A dev server process, healthy; returns it and its URL."""
    log = db.with_suffix(".log")

    def start(port: int) -> subprocess.Popen:
        with log.open("wb") as stderr:
            return subprocess.Popen(
                [sys.executable, "-m", "xpander_otel.cli", "serve", "--port", str(port), "--db", str(db)],
                stdout=subprocess.DEVNULL, stderr=stderr)

    server, (port,) = start_until_healthy(start, log, "dev server")
    return server, f"http://127.0.0.1:{port}"


def measure(url: str, runs: int, gap_s: float, spool: Path) -> list[float]:
    from opentelemetry.sdk.trace import TracerProvider

    from xpander_otel import Configuration, semconv
    from xpander_otel.exporter import XpanderSpanExporter, XpanderSpanProcessor

    transport = NoteAccepted()
    exporter = XpanderSpanExporter(AGENT_ID, configuration=Configuration(api_key="bench-key-0000", base_url=url),
                                   spool_path=spool, watch_global_provider=False, transport=transport)
    provider = TracerProvider()
    provider.add_span_processor(XpanderSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    ended: dict[str, float] = {}
    for n in range(runs):
        task_id = str(uuid.uuid4())
        with tracer.start_as_current_span("invoke_agent weather", attributes={
                semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT, semconv.AGENT_NAME: "weather",
                semconv.XPANDER_TASK_ID: task_id, semconv.XPANDER_TASK_INPUT: f"question {n}"}):
            with tracer.start_as_current_span("chat gpt-4.1", attributes={
                    semconv.OPERATION_NAME: semconv.OP_CHAT, semconv.USAGE_INPUT_TOKENS: 50,
                    semconv.USAGE_OUTPUT_TOKENS: 10}):
                pass
            with tracer.start_as_current_span("execute_tool get_weather", attributes={
                    semconv.OPERATION_NAME: semconv.OP_EXECUTE_TOOL, semconv.TOOL_NAME: "get_weather"}):
                pass
        ended[task_id] = time.perf_counter()
        time.sleep(gap_s)
    provider.force_flush(30_000)
    exporter.force_flush(30_000)
    provider.shutdown()
    missing = set(ended) - set(transport.accepted)
    if missing:
        raise RuntimeError(f"{len(missing)} of {runs} reports were not accepted")
    return sorted((transport.accepted[t] - ended[t]) * 1000 for t in ended)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=20.0, help="pause between runs")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_devserver(Path(tmp) / "tasks.sqlite3")
        try:
            latencies = measure(url, args.runs, args.gap_ms / 1000, Path(tmp) / "spool.sqlite3")
        finally:
            server.terminate()
            server.wait(timeout=30)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * p))], 2)

    result: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(), "runs": args.runs,
                              "gap_ms": args.gap_ms, "latency_ms_p50": round(statistics.median(latencies), 2),
                              "latency_ms_p99": pct(0.99), "latency_ms_max": round(latencies[-1], 2)}
    print("| runs | p50 ms | p99 ms | max ms |\n| ---: | ---: | ---: | ---: |")
    print(f"| {args.runs} | {result['latency_ms_p50']} | {result['latency_ms_p99']} | {result['latency_ms_max']} |")
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
