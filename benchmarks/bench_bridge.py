"""Bridge ingest benchmark: sustained spans/s over OTLP/HTTP (protobuf) and OTLP/gRPC, with the bridge's RSS.

    python benchmarks/bench_bridge.py                              # the figures in docs/benchmarks.md
    python benchmarks/bench_bridge.py --duration 1 --protocols http  # a quick smoke run
    python benchmarks/bench_bridge.py --bridges 2                  # two replicas sharing one spool

Three processes on this machine: the bridge (``xpander-otel bridge``, default settings), a load generator
(this script with ``--load``) that sends pre-encoded 512-span requests (64 agent runs of 8 spans, new
trace ids in every request) on several connections as fast as the bridge accepts them — a 503 or
UNAVAILABLE is waited out and resent, as OTLP clients do — and this driver, which also answers the
bridge's task reports (200). Prints one JSON object.

``--bridges N`` starts N bridges on one spool file, as replicas behind the Collector's ``load_balancing``
exporter (``routing_key: traceID``) run: the load generator's connections go to the bridges in turn, and
as every request holds whole traces, each trace meets in one bridge. CPU, RSS and counters are then summed
over the bridges.

"accepted" is spans the bridge answered 200 for per second of load; "assembled" counts until the
bridge has also assembled and spooled every report (its queue and grace window are empty), less the
grace window the last spans wait by design; "reports_delivered_per_s" is how fast the delivery worker
POSTed reports to the local API meanwhile. CPU seconds of the bridge and of the load generator show
where the machine's two cores went (the load generator must not be the limit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _processes import free_port, start_until_healthy

SPANS_PER_RUN = 8
RUNS_PER_REQUEST = 64
TRACE_PREFIX = bytes.fromhex("b1e55edb1e55ed00")  # first half of every template trace id, rewritten per request


# --- the request template ------------------------------------------------------------------------------

def template_request() -> bytes:
    """One serialized ExportTraceServiceRequest: 64 runs (agent, 3 chats, 3 tools, 1 HTTP span)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class Ids(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            return int.from_bytes(TRACE_PREFIX + os.urandom(8), "big")

    memory = InMemorySpanExporter()
    provider = TracerProvider(id_generator=Ids())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for n in range(RUNS_PER_REQUEST):
        with tracer.start_as_current_span("invoke_agent weather", attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather",
                "xpander.agent.id": "agent-bench", "xpander.task.input": f"question {n}"}):
            for step in range(3):
                with tracer.start_as_current_span("chat gpt-4.1", attributes={
                        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1",
                        "gen_ai.usage.input_tokens": 50 + step, "gen_ai.usage.output_tokens": 10,
                        "gen_ai.response.finish_reasons": ("stop",)}):
                    pass
                with tracer.start_as_current_span(f"execute_tool tool_{step}", attributes={
                        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": f"tool_{step}"}):
                    if step == 0:
                        with tracer.start_as_current_span("GET /weather"):
                            pass
    provider.shutdown()
    spans = memory.get_finished_spans()
    assert len(spans) == SPANS_PER_RUN * RUNS_PER_REQUEST
    body = encode_spans(spans).SerializeToString()
    assert body.count(TRACE_PREFIX) == len(spans)
    return body


def unique_body(template: bytes, worker: int, sequence: int) -> bytes:
    """The template with new trace ids: every request is 64 new traces."""
    return template.replace(TRACE_PREFIX, worker.to_bytes(2, "big") + sequence.to_bytes(6, "big"))


# --- the load generator (its own process) --------------------------------------------------------------

def run_load(protocol: str, targets: list[str], duration: float, connections: int) -> dict:
    template = template_request()
    spans_per_request = SPANS_PER_RUN * RUNS_PER_REQUEST
    # Imports and connections before the clock; connection i sends to bridge i modulo their number.
    senders = [_sender(protocol, targets[i % len(targets)]) for i in range(connections)]
    stop_at = time.perf_counter() + duration
    totals: dict = {"requests": 0, "busy": 0, "errors": 0, "first_error": None}
    lock = threading.Lock()

    def worker(index: int) -> None:
        send = senders[index]
        sequence = 0
        while time.perf_counter() < stop_at:
            sequence += 1
            body = unique_body(template, index, sequence)
            while True:
                try:
                    outcome = send(body)
                except Exception as exc:  # counted and shown, the load goes on
                    outcome = f"{type(exc).__name__}: {exc}"
                if outcome != "busy":
                    break
                with lock:
                    totals["busy"] += 1
                time.sleep(0.05)
            with lock:
                totals["requests" if outcome == "ok" else "errors"] += 1
                if outcome != "ok" and totals["first_error"] is None:
                    totals["first_error"] = outcome

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {**totals, "spans": totals["requests"] * spans_per_request, "seconds": elapsed,
            "cpu_seconds": usage.ru_utime + usage.ru_stime}


def _sender(protocol: str, target: str):
    if protocol == "http":
        import httpx

        client = httpx.Client(timeout=30)
        headers = {"content-type": "application/x-protobuf"}

        def send_http(body: bytes) -> str:
            status = client.post(f"{target}/v1/traces", content=body, headers=headers).status_code
            return "ok" if status == 200 else "busy" if status == 503 else f"HTTP {status}"

        return send_http

    import grpc

    # The pre-encoded body as it is (no serializer): the client does not parse and re-encode each request.
    export = grpc.insecure_channel(target).unary_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export")

    def send_grpc(body: bytes) -> str:
        try:
            export(body, timeout=30)
        except grpc.RpcError as exc:
            return "busy" if exc.code() == grpc.StatusCode.UNAVAILABLE else f"gRPC {exc.code().name}"
        return "ok"

    return send_grpc


# --- the driver ----------------------------------------------------------------------------------------

def start_report_sink() -> tuple[str, object]:
    """A loopback xpander API that acknowledges every task report."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ack(request):
        await request.body()
        return JSONResponse({"status": "completed"})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/{path:path}", ack, methods=["POST"])]),
                                           host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", server


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) // 1024
    return fields


def bridge_metrics(http: str) -> dict[str, float]:
    import httpx

    text = httpx.get(f"{http}/metrics", timeout=5).text
    return {line.split()[0].removeprefix("xpander_bridge_"): float(line.split()[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def summed(per_bridge: list[dict[str, float]]) -> dict[str, float]:
    """Every bridge's counters and gauges, added up."""
    totals: dict[str, float] = {}
    for metrics in per_bridge:
        for name, value in metrics.items():
            totals[name] = totals.get(name, 0.0) + value
    return totals


def pending_spans(http: str) -> int:
    import httpx

    return httpx.get(f"{http}/healthz", timeout=5).json()["pending_spans"]


def start_bridge(protocol: str, args: argparse.Namespace, sink_url: str, workdir: Path,
                 index: int = 0) -> tuple[subprocess.Popen, str, int]:
    """A bridge process, healthy; returns it, its HTTP URL and its gRPC port. Bridges share the spool."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XPANDER_")}
    env.update({"XPANDER_BASE_URL": sink_url, "XPANDER_API_KEY": "bench"})
    log = workdir / f"bridge-{protocol}-{index}.log"

    def start(http_port: int, grpc_port: int) -> subprocess.Popen:
        with log.open("wb") as stderr:
            return subprocess.Popen(
                [sys.executable, "-m", "xpander_otel.cli", "bridge", "--http-port", str(http_port), "--grpc-port",
                 str(grpc_port), "--spool", str(workdir / f"spool-{protocol}.sqlite3"),
                 "--grace-seconds", str(args.grace_seconds), "--max-pending-spans", str(args.max_pending_spans),
                 "--max-spooled-reports", str(args.max_spooled_reports)],
                env=env, stdout=subprocess.DEVNULL, stderr=stderr)

    bridge, (http_port, grpc_port) = start_until_healthy(start, log, "bridge", ports=2)
    return bridge, f"http://127.0.0.1:{http_port}", grpc_port


def bench_protocol(protocol: str, args: argparse.Namespace, sink_url: str, workdir: Path) -> dict:
    bridges: list[tuple[subprocess.Popen, str, int]] = []
    try:
        for index in range(args.bridges):
            bridges.append(start_bridge(protocol, args, sink_url, workdir, index))
        pids = [bridge.pid for bridge, _, _ in bridges]
        urls = [http for _, http, _ in bridges]
        rss_idle = sum(proc_status(pid)["VmRSS"] for pid in pids)
        cpu_idle = sum(map(cpu_seconds, pids))
        targets = urls if protocol == "http" else [f"127.0.0.1:{grpc_port}" for _, _, grpc_port in bridges]
        load = subprocess.run(
            [sys.executable, __file__, "--load", protocol, "--target", ",".join(targets), "--duration",
             str(args.duration), "--connections", str(args.connections)], capture_output=True, text=True, check=True)
        loaded = json.loads(load.stdout)
        rss_loaded = sum(proc_status(pid)["VmRSS"] for pid in pids)
        cpu_loaded = sum(map(cpu_seconds, pids))
        drain_started = time.perf_counter()
        # /healthz, not /metrics: a scrape also counts the spool's rows, which costs the bridge milliseconds.
        while any(pending_spans(url) > 0 for url in urls) and time.perf_counter() - drain_started < 120:
            time.sleep(0.05)
        drained = time.perf_counter() - drain_started
        assembly_wait = max(0.0, drained - args.grace_seconds)
        cpu_drained = sum(map(cpu_seconds, pids))
        per_bridge = [bridge_metrics(url) for url in urls]
        metrics = summed(per_bridge)
        peak = sum(proc_status(pid)["VmHWM"] for pid in pids)
    finally:
        for bridge, _, _ in bridges:
            bridge.send_signal(signal.SIGTERM)
        for bridge, _, _ in bridges:
            try:
                bridge.wait(60)
            except subprocess.TimeoutExpired:
                bridge.kill()
    assert metrics["spans_received_total"] == loaded["spans"], (metrics, loaded)
    return {
        "protocol": "OTLP/HTTP protobuf" if protocol == "http" else "OTLP/gRPC",
        "bridges": args.bridges,
        "spans_sent": loaded["spans"],
        "spans_received_per_bridge": [int(m["spans_received_total"]) for m in per_bridge],
        "requests": loaded["requests"],
        "busy_answers": loaded["busy"],
        "errors": loaded["errors"],
        "first_error": loaded["first_error"],
        "load_seconds": round(loaded["seconds"], 2),
        "drain_seconds": round(drained, 2),
        "accepted_spans_per_s": round(loaded["spans"] / loaded["seconds"]),
        # The last spans wait out the grace window by design: that wait is no assembly time.
        "assembled_spans_per_s": round(loaded["spans"] / (loaded["seconds"] + assembly_wait)),
        "bridge_cpu_s_load": round(cpu_loaded - cpu_idle, 1),
        "bridge_cpu_s_drain": round(cpu_drained - cpu_loaded, 1),
        "bridge_cpu_us_per_span": round((cpu_drained - cpu_idle) / max(1, loaded["spans"]) * 1e6, 1),
        "load_generator_cpu_s": round(loaded["cpu_seconds"], 1),
        "reports_assembled": int(metrics["reports_assembled_total"]),
        "reports_sent_by_end": int(metrics["reports_sent_total"]),
        "reports_delivered_per_s": round(metrics["reports_sent_total"] / (loaded["seconds"] + drained)),
        "rss_mib_idle": rss_idle,
        "rss_mib_after_load": rss_loaded,
        "rss_mib_peak": peak,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", default="http,grpc", help="comma-separated: http, grpc")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per protocol")
    parser.add_argument("--connections", type=int, default=4, help="concurrent client connections")
    parser.add_argument("--grace-seconds", type=float, default=5.0, help="the bridge's grace window")
    parser.add_argument("--max-pending-spans", type=int, default=200_000,
                        help="the bridge's limit of queued + held spans (held: about span rate x grace window)")
    parser.add_argument("--max-spooled-reports", type=int, default=50_000,
                        help="the bridge's limit of undelivered reports (replicas share one spool, so one limit)")
    parser.add_argument("--bridges", type=int, default=1, help="bridge replicas sharing one spool")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--load", choices=["http", "grpc"], help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.bridges <= args.connections:
        parser.error("--bridges must be at least 1 and at most --connections (each bridge gets a connection)")
    if args.load:
        print(json.dumps(run_load(args.load, args.target.split(","), args.duration, args.connections)))
        return 0
    sink_url, sink = start_report_sink()
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for protocol in args.protocols.split(","):
            results.append(bench_protocol(protocol.strip(), args, sink_url, Path(workdir)))
    sink.should_exit = True
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"duration_s": args.duration, "connections": args.connections, "bridges": args.bridges,
                     "spans_per_request": SPANS_PER_RUN * RUNS_PER_REQUEST, "grace_s": args.grace_seconds,
                     "max_pending_spans": args.max_pending_spans, "max_spooled_reports": args.max_spooled_reports},
        "results": results,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
