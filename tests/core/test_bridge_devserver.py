"""The dev server with the bridge's OTLP/HTTP receiver mounted (its extra_routes seam): a local user points
an OpenTelemetry SDK at ``xpander-otel serve`` and sees the task."""

from __future__ import annotations

import time

import httpx
import pytest
from _exporter_support import expected_weather_body, weather_run
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from _servers import ServerThread
from xpander_otel.bridge.local import create_local_otlp_routes
from xpander_otel.devserver.app import ServerSettings, create_app
from xpander_otel.exporter.assembler import task_id_for
from xpander_otel.exporter.spans import trace_id_hex


@pytest.fixture
def devserver(tmp_path):
    app = None
    routes, pipeline = create_local_otlp_routes(lambda agent_id, report: app.state.record_report(agent_id, report),
                                                grace_s=0.2)
    app = create_app(ServerSettings(db_path=tmp_path / "tasks.sqlite3"), extra_routes=routes)
    server = ServerThread(app).start()
    server.pipeline = pipeline
    yield server
    server.stop()
    pipeline.close(timeout_s=2)
    app.state.storage.close()


def test_sdk_pointed_at_the_dev_server_creates_the_task(devserver):
    seen = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(seen))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{devserver.url}/v1/traces"),
                                                   schedule_delay_millis=50))
    weather_run(provider.get_tracer("dev"), agent_id="weather-agent")
    weather_run(provider.get_tracer("dev"), agent_id="no-such-agent")
    provider.shutdown()
    root = next(s for s in seen.get_finished_spans()
                if s.name == "invoke_agent weather" and s.attributes["xpander.agent.id"] == "weather-agent")
    task_id = task_id_for(root.context.trace_id, root.context.span_id)
    expected = expected_weather_body(task_id, trace_id_hex(root.context.trace_id),
                                     (root.end_time - root.start_time) / 1e9)
    for _ in range(100):
        response = httpx.get(f"{devserver.url}/tasks/{task_id}")
        if response.status_code == 200:
            break
        time.sleep(0.05)
    task = response.json()
    assert task["agent_id"] == "weather-agent"
    assert task["input"]["text"] == expected["input"]
    for field in ("result", "used_tools", "is_success", "duration", "llm_response"):
        assert task[field] == expected[field], field
    assert task["tokens"]["total_tokens"] == 152
    listed = httpx.get(f"{devserver.url}/tasks").json()
    assert [t["id"] for t in listed["items"]] == [task_id]  # the unknown agent's run is not stored
    assert devserver.pipeline.delivery.dropped == 1
