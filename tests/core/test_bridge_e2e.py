"""Real OTLP clients -> a bridge process -> task reports at the recording xpander API."""

from __future__ import annotations

import pytest
from _bridge_support import API_KEY, BridgeProcess, wait_for_reports
from _exporter_support import expected_weather_body, weather_run
from grpc import Compression as GrpcCompression
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonHttpExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as ProtobufHttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from _servers import RecordingServer, ServerThread
from xpander_otel.exporter.assembler import task_id_for
from xpander_otel.exporter.spans import trace_id_hex

TOKEN = "bridge-bearer-token"


@pytest.fixture(scope="module")
def xpander_api():
    """One recording xpander API for the module's bridge (a bridge process takes seconds to start)."""
    rec = RecordingServer()
    server = ServerThread(rec.app).start()
    rec.url = server.url
    yield rec
    server.stop()


@pytest.fixture(scope="module")
def shared_bridge(xpander_api, tmp_path_factory):
    process = BridgeProcess(xpander_api.url, tmp_path_factory.mktemp("bridge") / "spool.sqlite3",
                            "--grace-seconds", "0.3", env={"XPANDER_BRIDGE_TOKEN": TOKEN}).ready()
    yield process
    assert process.stop() == 0


@pytest.fixture
def bridge(shared_bridge, xpander_api):
    xpander_api.requests.clear()
    return shared_bridge


@pytest.fixture
def recorder(xpander_api):
    return xpander_api


def run_and_export(exporter, runs: int = 1) -> list:
    """``weather_run`` through a provider exporting to ``exporter``; returns the expected report bodies."""
    seen = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bridge-e2e"}))
    provider.add_span_processor(SimpleSpanProcessor(seen))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    tracer = provider.get_tracer("e2e")
    for i in range(runs):
        weather_run(tracer, question=f"Weather in Paris? #{i}")
    provider.shutdown()
    expected = []
    for span in seen.get_finished_spans():
        if span.name == "invoke_agent weather":
            trace_id, span_id = span.context.trace_id, span.context.span_id
            expected.append(expected_weather_body(task_id_for(trace_id, span_id), trace_id_hex(trace_id),
                                                  (span.end_time - span.start_time) / 1e9,
                                                  question=span.attributes["xpander.task.input"]))
    return expected


def assert_reports(recorder, expected: list) -> None:
    got = wait_for_reports(recorder, len(expected), settle=1.0)
    assert {r.path for r in got} == {"/agent-execution/agent-123/report_task"}
    assert all(r.headers["x-api-key"] == API_KEY for r in got)
    assert sorted((r.json() for r in got), key=lambda b: b["id"]) == sorted(expected, key=lambda b: b["id"])


AUTH = {"authorization": f"Bearer {TOKEN}"}


def test_python_otlp_http_protobuf_exporter_with_gzip(bridge, recorder):
    exporter = ProtobufHttpExporter(endpoint=f"{bridge.http}/v1/traces", headers=AUTH,
                                    compression=HttpCompression.Gzip)
    before = bridge.metrics()
    assert_reports(recorder, run_and_export(exporter, runs=3))
    after = bridge.metrics()
    delta = {name: after[name] - before[name] for name in after}
    assert delta["xpander_bridge_spans_received_total"] == 12
    assert delta["xpander_bridge_reports_assembled_total"] == 3
    assert delta["xpander_bridge_reports_sent_total"] == 3
    assert delta["xpander_bridge_spans_rejected_total"] == 0
    assert after["xpander_bridge_reports_spooled"] == 0


def test_python_otlp_http_json_exporter(bridge, recorder):
    exporter = JsonHttpExporter(endpoint=f"{bridge.http}/v1/traces", headers=AUTH)
    assert_reports(recorder, run_and_export(exporter, runs=2))


def test_python_otlp_grpc_exporter_with_gzip(bridge, recorder):
    exporter = GrpcExporter(endpoint=bridge.grpc, insecure=True, headers=AUTH, compression=GrpcCompression.Gzip)
    assert_reports(recorder, run_and_export(exporter, runs=2))


def test_exporter_without_the_token_delivers_nothing(bridge, recorder):
    exporter = ProtobufHttpExporter(endpoint=f"{bridge.http}/v1/traces", timeout=2)
    before = bridge.metrics()["xpander_bridge_spans_received_total"]
    run_and_export(exporter)
    assert wait_for_reports(recorder, 1, timeout=1.5) == []
    assert bridge.metrics()["xpander_bridge_spans_received_total"] == before


def test_bridge_with_bad_settings_says_why_in_one_line(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "xpander_otel.cli", "bridge", "--spool", str(tmp_path / "s.sqlite3"),
         "--http-port", "0", "--grpc-port", "0"],
        env={"PATH": "/usr/bin:/bin", "XPANDER_OTEL_AGENT_MAP": "{not json", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("xpander-otel bridge: XPANDER_OTEL_AGENT_MAP")
