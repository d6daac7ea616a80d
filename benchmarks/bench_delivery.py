"""Delivery benchmark: CPU per task report from ``Delivery.submit`` to its deletion from the spool.

    python benchmarks/bench_delivery.py                      # the figures in docs/benchmarks.md
    python benchmarks/bench_delivery.py --reports 50 --rounds 1 --idle-s 0.2   # a quick smoke run

The spool is a SQLite file in a temporary folder; the xpander API is ``httpx.MockTransport`` answering
200 in-process, so no network is measured. Cost is ``time.process_time()`` of the whole process (every
thread: the caller, the senders), so thread wake-ups count too. Modes:

- ``paced``: one report per ``submit`` and a pause between them, like an application whose runs end one
  at a time; the same loop without a delivery is measured in the same round and subtracted.
- ``burst``: reports submitted in batches back to back, then ``force_flush``; CPU divided by reports.
- ``idle``: a delivery with nothing to send, for ``--idle-s``: thread wake-ups per second.
- ``exporter``: the whole exporter path, as the Agno ``tool_call`` run feeds it: runs of 4 spans (agent,
  2 chats, a tool) through ``XpanderSpanProcessor`` + ``XpanderSpanExporter`` + its delivery, one report
  per run, back to back and paced; the same loops without spans are subtracted.
- ``busy``: reports submitted four at a time (2 ms apart) while ``--busy-threads`` application threads
  spin, POSTed over loopback HTTP to the API in another process (below) that answers at once: how long
  each POST takes with its waits for the interpreter lock, how many senders posted, and whether everything
  was sent within 60 s.
- ``backlog``: ``--backlog`` reports already in the spool when the delivery starts (a replay after an
  outage, or a bridge whose spool filled), POSTed over loopback HTTP to an API in another process
  (Starlette + uvicorn answering 200): reports per second and this process's CPU per report, once per
  ``--backlog-senders`` value (the delivery's most senders). ``--api-latency-ms`` has the API answer
  each report that much later, as a distant API does; ``--backlog-only`` skips the other modes.

Bodies: ``model`` submits ``TaskReport`` objects, ``wire`` the dict ``TaskReport.to_wire()`` returns.
Prints a table and one JSON object (``--json`` also writes it to a file).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _processes import start_until_healthy
from opentelemetry.sdk.trace import TracerProvider

from xpander_otel import Configuration, TaskReport, Tokens, semconv
from xpander_otel.exporter import XpanderSpanExporter, XpanderSpanProcessor
from xpander_otel.exporter.delivery import Delivery
from xpander_otel.exporter.spool import Spool


def make_report(n: int) -> TaskReport:
    """A report like the exporter's for a run of one tool call (the Agno ``tool_call`` workload)."""
    return TaskReport(
        id=f"3f2b6c1e-0000-4000-8000-{n:012d}", input=f"What is the weather in Paris? ({n})",
        llm_response={"model": "gpt-4.1-2025", "content": None, "finish_reason": "stop",
                      "usage": {"prompt_tokens": 80, "completion_tokens": 12, "total_tokens": 92},
                      "trace_id": f"{n:032x}"},
        tokens=Tokens(prompt_tokens=130, completion_tokens=22), is_success=True,
        result="It is sunny in Paris, 22 degrees.", duration=1.234, used_tools=["get_weather"],
    )


def context_switches() -> int | None:
    """Voluntary + involuntary context switches of every live thread of this process (Linux only)."""
    total = 0
    try:
        for status in Path("/proc/self/task").glob("*/status"):
            for line in status.read_text().splitlines():
                if "ctxt_switches:" in line:
                    total += int(line.split(":")[1])
    except OSError:
        return None
    return total


class Bench:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.handled = 0
        self.configuration = Configuration(api_key="xpk-bench-0123456789", base_url="http://xpander.test")
        self.transport = httpx.MockTransport(self._answer)
        self.rounds = 0

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.handled += 1
        return httpx.Response(200, json={"ok": True})

    def delivery(self) -> Delivery:
        self.rounds += 1
        return Delivery(Spool(self.folder / f"spool-{self.rounds}.sqlite3"), self.configuration,
                        transport=self.transport)

    def paced(self, bodies: list, gap_s: float) -> tuple[float, float, int | None]:
        """CPU seconds of the pacing loop alone and with a delivery; context switches with the delivery."""
        started = time.process_time()
        for _ in bodies:
            time.sleep(gap_s)
        bare = time.process_time() - started
        delivery = self.delivery()
        time.sleep(0.05)  # let the senders reach their first wait
        switches, started = context_switches(), time.process_time()
        for body in bodies:
            delivery.submit([("agent-bench", body)])
            time.sleep(gap_s)
        assert delivery.force_flush(30), "reports left in the spool"
        cpu = time.process_time() - started
        after = context_switches()
        delivery.shutdown(5)
        assert delivery.delivered == len(bodies), (delivery.delivered, len(bodies))
        return bare, cpu, (after - switches) if switches is not None and after is not None else None

    def burst(self, bodies: list, batch: int) -> tuple[float, int | None]:
        delivery = self.delivery()
        time.sleep(0.05)
        switches, started = context_switches(), time.process_time()
        for first in range(0, len(bodies), batch):
            delivery.submit([("agent-bench", body) for body in bodies[first:first + batch]])
        assert delivery.force_flush(120), "reports left in the spool"
        cpu = time.process_time() - started
        after = context_switches()
        delivery.shutdown(5)
        assert delivery.delivered == len(bodies), (delivery.delivered, len(bodies))
        return cpu, (after - switches) if switches is not None and after is not None else None

    def idle(self, seconds: float) -> tuple[float, int | None]:
        delivery = self.delivery()
        time.sleep(0.05)
        switches, started = context_switches(), time.process_time()
        time.sleep(seconds)
        cpu = time.process_time() - started
        after = context_switches()
        delivery.shutdown(5)
        return cpu, (after - switches) if switches is not None and after is not None else None


    def beside_busy_threads(self, url: str, bodies: list, threads: int, timeout_s: float = 60.0) -> dict:
        self.rounds += 1
        delivery = _TimedDelivery(Spool(self.folder / f"spool-{self.rounds}.sqlite3"),
                                  Configuration(api_key=self.configuration.api_key, base_url=url))
        stop = threading.Event()

        def spin() -> None:
            while not stop.is_set():
                pass

        spinners = [threading.Thread(target=spin, daemon=True) for _ in range(threads)]
        for spinner in spinners:
            spinner.start()
        try:
            for first in range(0, len(bodies), 4):
                delivery.submit([("agent-bench", body) for body in bodies[first:first + 4]])
                time.sleep(0.002)
            all_sent = delivery.force_flush(timeout_s)
        finally:
            stop.set()
            for spinner in spinners:
                spinner.join()
        delivery.shutdown(5)
        posts = sorted(delivery.post_seconds)
        return {"threads": threads, "reports": len(bodies), "all_sent": all_sent,
                "post_ms_p50": posts[len(posts) // 2] * 1e3, "post_ms_p99": posts[int(len(posts) * 0.99)] * 1e3,
                "post_ms_max": posts[-1] * 1e3, "senders": len(delivery.senders_seen)}


class _TimedDelivery(Delivery):
    """A delivery that notes how long each POST took (wall time: waits for the interpreter lock included)
    and which sender threads posted."""

    def __init__(self, *args, **kwargs) -> None:
        self.post_seconds: list[float] = []
        self.senders_seen: set[str] = set()
        super().__init__(*args, **kwargs)

    def _post(self, report):
        self.senders_seen.add(threading.current_thread().name)
        started = time.monotonic()
        try:
            return super()._post(report)
        finally:
            self.post_seconds.append(time.monotonic() - started)


def agent_run(tracer, n: int) -> None:
    """The spans of one Agno ``tool_call`` run as our instrumentor emits them."""
    with tracer.start_as_current_span("invoke_agent weather", attributes={
            semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT, semconv.AGENT_NAME: "weather",
            semconv.XPANDER_AGENT_ID: "agent-bench", semconv.XPANDER_TASK_INPUT: f"question {n}"}) as root:
        for step, reason in enumerate(("tool_calls", "stop")):
            with tracer.start_as_current_span("chat gpt-4.1", attributes={
                    semconv.OPERATION_NAME: semconv.OP_CHAT, semconv.REQUEST_MODEL: "gpt-4.1",
                    semconv.USAGE_INPUT_TOKENS: 50 + step, semconv.USAGE_OUTPUT_TOKENS: 10,
                    semconv.RESPONSE_FINISH_REASONS: (reason,)}):
                pass
            if step == 0:
                with tracer.start_as_current_span("execute_tool get_weather", attributes={
                        semconv.OPERATION_NAME: semconv.OP_EXECUTE_TOOL, semconv.TOOL_NAME: "get_weather"}):
                    pass
        root.set_attribute(semconv.XPANDER_TASK_RESULT, "It is sunny in Paris, 22 degrees.")


def exporter_path(bench: Bench, runs: int, gap_s: float) -> float:
    """CPU µs per run of spans + processor + exporter + delivery, minus the same loop without spans."""
    bench.rounds += 1
    exporter = XpanderSpanExporter("agent-bench", configuration=bench.configuration,
                                   spool_path=bench.folder / f"spool-{bench.rounds}.sqlite3",
                                   watch_global_provider=False, transport=bench.transport)
    processor = XpanderSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    for n in range(20):  # warm-up
        agent_run(tracer, n)
    processor.force_flush()
    exporter.force_flush(30_000)
    started = time.process_time()
    for _ in range(runs):
        if gap_s:
            time.sleep(gap_s)
    bare = time.process_time() - started
    delivered, started = bench.handled, time.process_time()
    for n in range(runs):
        agent_run(tracer, n)
        if gap_s:
            time.sleep(gap_s)
    processor.force_flush()
    assert exporter.force_flush(30_000), "reports left in the spool"
    cpu = time.process_time() - started
    assert bench.handled - delivered == runs, (bench.handled - delivered, runs)
    provider.shutdown()
    return (cpu - bare) / runs * 1e6


_SINK = """
import asyncio, sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

LATENCY_S = float(sys.argv[2])

async def ack(request):
    await request.body()
    if LATENCY_S:
        await asyncio.sleep(LATENCY_S)  # a distant API: each report waits, the server takes the next ones
    return JSONResponse({"ok": True})

async def healthz(request):
    return JSONResponse({"status": "ok"})

routes = [Route("/healthz", healthz), Route("/{path:path}", ack, methods=["POST"])]
config = uvicorn.Config(Starlette(routes=routes), host="127.0.0.1", port=int(sys.argv[1]), log_level="error",
                        lifespan="off")
uvicorn.Server(config).run()
"""


class LoopbackApi:
    """An xpander API in another process on 127.0.0.1 that acknowledges every report (stopped on exit)."""

    def __init__(self, folder: Path, latency_s: float = 0.0) -> None:
        self.log = folder / "loopback-api.log"
        self.latency_s = latency_s

    def __enter__(self) -> str:
        def start(port: int) -> subprocess.Popen:
            with self.log.open("wb") as stderr:
                return subprocess.Popen([sys.executable, "-c", _SINK, str(port), str(self.latency_s)],
                                        stderr=stderr)

        self.process, (port,) = start_until_healthy(start, self.log, "loopback API")
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(10)


def backlog(folder: Path, url: str, bodies: list[dict], round_no: int, senders: int) -> tuple[float, float]:
    """Reports per second and CPU µs per report to drain a spool that already holds ``bodies``."""
    spool = Spool(folder / f"backlog-{round_no}.sqlite3", max_rows=len(bodies) + 1)
    spool.put([(f"agent-bench/{body['id']}", "agent-bench", json.dumps(body)) for body in bodies])
    configuration = Configuration(api_key="xpk-bench-0123456789", base_url=url)
    wall, cpu = time.perf_counter(), time.process_time()
    delivery = Delivery(spool, configuration, senders=senders)
    assert delivery.force_flush(300), "reports left in the spool"
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    delivery.shutdown(5)
    assert delivery.delivered == len(bodies), (delivery.delivered, len(bodies))
    return len(bodies) / wall, cpu / len(bodies) * 1e6


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run(args: argparse.Namespace) -> dict:
    reports = [make_report(n) for n in range(args.reports)]
    wires = [r.to_wire() for r in reports]
    result: dict = {"python": platform.python_version(), "machine": platform.machine(), "reports": args.reports,
                    "rounds": args.rounds, "gap_ms": args.gap_ms, "batch": args.batch, "modes": {}}
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(Path(folder))
        for kind in () if args.backlog_only else args.bodies:
            bodies = reports if kind == "model" else wires
            paced_us, paced_switches, burst_us, burst_switches = [], [], [], []
            for _ in range(args.rounds):
                bare, cpu, switches = bench.paced(bodies, args.gap_ms / 1000)
                paced_us.append((cpu - bare) / len(bodies) * 1e6)
                if switches is not None:
                    paced_switches.append(switches / len(bodies))
                cpu, switches = bench.burst(bodies, args.batch)
                burst_us.append(cpu / len(bodies) * 1e6)
                if switches is not None:
                    burst_switches.append(switches / len(bodies))
            result["modes"][f"paced/{kind}"] = {"cpu_us_per_report": median(paced_us),
                                                "context_switches_per_report": median(paced_switches),
                                                "rounds_us": paced_us}
            result["modes"][f"burst/{kind}"] = {"cpu_us_per_report": median(burst_us),
                                                "context_switches_per_report": median(burst_switches),
                                                "rounds_us": burst_us}
        exporter_modes = (("exporter/back-to-back", 0.0), ("exporter/paced", args.gap_ms / 1000))
        for name, gap_s in () if args.backlog_only else exporter_modes:
            rounds_us = [exporter_path(bench, args.reports, gap_s) for _ in range(args.rounds)]
            result["modes"][name] = {"cpu_us_per_report": median(rounds_us), "context_switches_per_report": None,
                                     "rounds_us": rounds_us}
        if args.backlog:
            bodies = [make_report(n).to_wire() for n in range(args.backlog)]
            result["backlog"] = []
            with LoopbackApi(Path(folder), args.api_latency_ms / 1000) as url:
                for senders in args.backlog_senders:
                    per_s, cpu_us = [], []
                    for round_no in range(args.rounds):
                        rate, cost = backlog(Path(folder), url, bodies, round_no + 100 * senders, senders)
                        per_s.append(rate)
                        cpu_us.append(cost)
                    result["backlog"].append({
                        "reports": args.backlog, "senders": senders, "api_latency_ms": args.api_latency_ms,
                        "reports_per_s": median(per_s), "cpu_us_per_report": median(cpu_us),
                        "rounds_per_s": per_s, "rounds_us": cpu_us})
        if not args.backlog_only:
            with LoopbackApi(Path(folder)) as url:
                result["busy"] = [bench.beside_busy_threads(url, wires[:args.busy_reports], threads)
                                  for threads in args.busy_threads]
            cpu, switches = bench.idle(args.idle_s)
            result["idle"] = {"seconds": args.idle_s, "cpu_ms_per_s": cpu / args.idle_s * 1e3,
                              "context_switches_per_s": switches / args.idle_s if switches is not None else None}
    return result


def print_table(result: dict) -> None:
    print(f"| mode | CPU µs/report (median of {result['rounds']}) | context switches/report |", file=sys.stderr)
    print("| --- | ---: | ---: |", file=sys.stderr)
    for mode, row in result["modes"].items():
        switches = row["context_switches_per_report"]
        print(f"| {mode} | {row['cpu_us_per_report']:.0f} | {'-' if switches is None else f'{switches:.1f}'} |",
              file=sys.stderr)
    for row in result.get("backlog", ()):
        print(f"backlog of {row['reports']}, {row['senders']} senders, API answering after {row['api_latency_ms']} ms: "
              f"{row['reports_per_s']:.0f} reports/s, {row['cpu_us_per_report']:.0f} CPU µs/report", file=sys.stderr)
    for row in result.get("busy", ()):
        print(f"beside {row['threads']} busy thread(s): POST p50 {row['post_ms_p50']:.1f} ms, p99 "
              f"{row['post_ms_p99']:.1f}, max {row['post_ms_max']:.1f}; {row['senders']} sender(s); "
              f"{'all sent' if row['all_sent'] else 'NOT all sent'} within 60 s", file=sys.stderr)
    idle = result.get("idle")
    if idle:
        print(f"idle: {idle['cpu_ms_per_s']:.2f} ms CPU/s, {idle['context_switches_per_s']} context switches/s",
              file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1000, help="reports per round and mode")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gap-ms", type=float, default=2.0, help="pause between paced submits")
    parser.add_argument("--batch", type=int, default=64, help="reports per submit in the burst mode")
    parser.add_argument("--idle-s", type=float, default=5.0)
    parser.add_argument("--backlog", type=int, default=4000, help="spooled reports to drain (0: skip)")
    parser.add_argument("--backlog-senders", type=int, nargs="+", default=[4],
                        help="the delivery's most senders, one backlog measurement each")
    parser.add_argument("--api-latency-ms", type=float, default=0.0,
                        help="the loopback API answers each report after this long (a distant API)")
    parser.add_argument("--backlog-only", action="store_true", help="measure only the backlog")
    parser.add_argument("--busy-threads", type=int, nargs="+", default=[1, 2, 4],
                        help="spinning application threads, one busy measurement each")
    parser.add_argument("--busy-reports", type=int, default=200, help="reports per busy measurement")
    parser.add_argument("--bodies", nargs="+", choices=["model", "wire"], default=["model", "wire"])
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = run(args)
    print_table(result)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
