"""A bridge in front of a distant xpander API: reports go out on up to ``--max-senders`` requests at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from _bridge_support import BridgeProcess
from _exporter_support import weather_run
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from _servers import ServerThread
from xpander_otel.exporter.assembler import task_id_for

RUNS = 20


class SlowApi:
    """An xpander API that answers each report 0.3 s after it came, counting the requests in flight."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.in_flight = self.most_in_flight = 0  # one event loop: no lock
        self.app = Starlette(routes=[Route("/agent-execution/{agent_id}/report_task", self.report, methods=["POST"])])

    async def report(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.3)
        self.in_flight -= 1
        self.ids.append(body["id"])
        return JSONResponse({"id": body["id"], "status": "completed"})


def export_runs(endpoint: str) -> list[str]:
    """``RUNS`` weather runs over OTLP/HTTP; returns their task ids."""
    seen = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(seen))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    tracer = provider.get_tracer("senders")
    for i in range(RUNS):
        weather_run(tracer, question=f"run {i}")
    provider.shutdown()
    return [task_id_for(s.context.trace_id, s.context.span_id) for s in seen.get_finished_spans()
            if s.name == "invoke_agent weather"]


def test_a_bridge_sends_at_most_max_senders_reports_at_once(tmp_path):
    api = SlowApi()
    server = ServerThread(api.app).start()
    bridge = BridgeProcess(server.url, tmp_path / "spool.sqlite3", "--grace-seconds", "0.2",
                           "--max-senders", "3").ready()
    try:
        task_ids = export_runs(bridge.http)
        deadline = time.monotonic() + 30
        while len(api.ids) < RUNS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(api.ids) == sorted(task_ids)
        # Reports waited while requests were slow: senders were added up to the limit, and not beyond it.
        assert api.most_in_flight == 3
    finally:
        assert bridge.stop() == 0
        server.stop()


def test_max_senders_below_one_is_refused_with_the_option_named(tmp_path):
    done = subprocess.run([sys.executable, "-m", "xpander_otel.cli", "bridge", "--spool", str(tmp_path / "s.sqlite3"),
                           "--max-senders", "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("argument --max-senders: must be at least 1, got 0")
