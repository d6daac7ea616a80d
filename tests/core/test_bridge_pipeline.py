"""The bridge pipeline in-process: grace window, late spans, backpressure, /healthz and /metrics."""

from __future__ import annotations

import gc
import re
import time

import httpx
import pytest
from _bridge_support import wait_for_reports
from _exporter_support import expected_weather_body, weather_run
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from _servers import Reply, ServerThread
from xpander_otel.bridge import pipeline as pipeline_module
from xpander_otel.bridge.limits import ReceiverLimits
from xpander_otel.bridge.local import StoreDelivery
from xpander_otel.bridge.pipeline import BridgePipeline, PipelineSettings
from xpander_otel.bridge.receiver import BUSY
from xpander_otel.bridge.server import (
    GC_THRESHOLDS,
    BridgeOptions,
    build_pipeline,
    create_bridge_app,
    tune_gc,
)
from xpander_otel.config import Configuration
from xpander_otel.exporter.assembler import Assembler, AssemblerSettings, task_id_for
from xpander_otel.exporter.spans import trace_id_hex

PROTOBUF = {"content-type": "application/x-protobuf"}


def weather_spans(runs: int = 1) -> list:
    seen = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(seen))
    for i in range(runs):
        weather_run(provider.get_tracer("t"), question=f"q{i}")
    provider.shutdown()
    return list(seen.get_finished_spans())


def expected_for(spans: list) -> list[dict]:
    return [expected_weather_body(task_id_for(s.context.trace_id, s.context.span_id),
                                  trace_id_hex(s.context.trace_id), (s.end_time - s.start_time) / 1e9,
                                  question=s.attributes["xpander.task.input"])
            for s in spans if s.name == "invoke_agent weather"]


@pytest.fixture
def make_bridge(recorder):
    started = []

    def make(grace_s: float = 0.3, max_pending_spans: int = 10_000, retry_after: int = 1,
             max_spooled_reports: int = 1_000):
        options = BridgeOptions(spool_path=":memory:", limits=ReceiverLimits(retry_after_seconds=retry_after),
                                pipeline=PipelineSettings(grace_s=grace_s, max_pending_spans=max_pending_spans,
                                                          max_spooled_reports=max_spooled_reports, tick_s=0.05))
        pipeline = build_pipeline(options, Configuration(base_url=recorder.url, api_key="k", agent_id=None))
        server = ServerThread(create_bridge_app(pipeline, options)).start()
        server.pipeline = pipeline
        server.traces = f"{server.url}/v1/traces"
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
        server.pipeline.close(timeout_s=2)


def post(url: str, spans: list) -> httpx.Response:
    return httpx.post(url, content=encode_spans(spans).SerializeToString(), headers=PROTOBUF)


def test_root_first_then_children_in_later_requests_gives_one_complete_report(make_bridge, recorder):
    bridge = make_bridge(grace_s=1.0)
    spans = weather_spans()
    root = [s for s in spans if s.name.startswith("invoke_agent")]
    children = [s for s in spans if not s.name.startswith("invoke_agent")]
    assert post(bridge.traces, root).status_code == 200
    assert post(bridge.traces, children[2:]).status_code == 200
    assert post(bridge.traces, children[:2]).status_code == 200
    got = wait_for_reports(recorder, 1, settle=1.0)
    assert [r.json() for r in got] == expected_for(spans)


def test_spans_after_the_grace_window_update_the_same_task(make_bridge, recorder):
    bridge = make_bridge(grace_s=0.2)
    spans = weather_spans()
    root = next(s for s in spans if s.name.startswith("invoke_agent"))
    first_chat = next(s for s in spans if s.name.startswith("chat"))
    post(bridge.traces, [root, first_chat])
    early = wait_for_reports(recorder, 1)[0].json()
    assert early["tokens"]["total_tokens"] == 60 and early["used_tools"] == []
    post(bridge.traces, [s for s in spans if s not in (root, first_chat)])
    got = wait_for_reports(recorder, 2, settle=0.5)
    assert len(got) == 2
    assert got[1].json() == expected_for(spans)[0]
    assert got[1].json()["id"] == early["id"]


def test_full_queue_answers_503_and_takes_nothing(make_bridge, recorder):
    bridge = make_bridge(grace_s=30, max_pending_spans=6)
    spans = weather_spans(2)
    first, second = spans[:4], spans[4:]
    assert post(bridge.traces, first).status_code == 200
    refused = post(bridge.traces, second)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    metrics = httpx.get(f"{bridge.url}/metrics").text
    assert "xpander_bridge_spans_received_total 4\n" in metrics
    assert "xpander_bridge_requests_refused_busy_total 1\n" in metrics
    assert "xpander_bridge_pending_spans 4\n" in metrics
    assert httpx.get(f"{bridge.url}/healthz").json() == {"status": "ok", "pending_spans": 4}


def test_a_real_exporter_retries_on_503_and_every_report_arrives(make_bridge, recorder):
    bridge = make_bridge(grace_s=0.2, max_pending_spans=4)
    seen = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(seen))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=bridge.traces, timeout=30),
                                                   max_export_batch_size=4, schedule_delay_millis=10))
    for i in range(3):
        weather_run(provider.get_tracer("t"), question=f"q{i}")
    provider.shutdown()
    got = wait_for_reports(recorder, 3, timeout=30, settle=0.5)
    expected = expected_for(seen.get_finished_spans())
    assert sorted((r.json() for r in got), key=lambda b: b["id"]) == sorted(expected, key=lambda b: b["id"])
    metrics = httpx.get(f"{bridge.url}/metrics").text
    refused = re.search(r"^xpander_bridge_requests_refused_busy_total (\d+)$", metrics, re.M)
    assert int(refused.group(1)) >= 1
    assert "xpander_bridge_spans_received_total 12\n" in metrics


def test_invalid_ids_are_reported_in_partial_success_and_the_rest_is_assembled(make_bridge, recorder):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    bridge = make_bridge(grace_s=0.2)
    spans = weather_spans()
    request = encode_spans(spans)
    bad = request.resource_spans[0].scope_spans[0].spans.add()
    bad.CopyFrom(request.resource_spans[0].scope_spans[0].spans[0])
    bad.span_id = b"\x00" * 8
    response = httpx.post(bridge.traces, content=request.SerializeToString(), headers=PROTOBUF)
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert response.status_code == 200
    assert answer.partial_success.rejected_spans == 1
    assert answer.partial_success.error_message == "1 span(s) rejected: span_id must be 8 bytes and not all zero"
    assert [r.json() for r in wait_for_reports(recorder, 1, settle=0.3)] == expected_for(spans)


def test_close_assembles_what_the_grace_window_still_holds(make_bridge, recorder):
    bridge = make_bridge(grace_s=60)
    spans = weather_spans()
    post(bridge.traces, spans)
    assert wait_for_reports(recorder, 1, timeout=0.5) == []
    assert bridge.pipeline.close(timeout_s=5)
    assert [r.json() for r in wait_for_reports(recorder, 1)] == expected_for(spans)


def test_metrics_count_delivery_retries_and_sent_reports(make_bridge, recorder):
    path = "/agent-execution/agent-123/report_task"
    recorder.reply("POST", path, Reply(503, {"detail": "busy"}), Reply(200, {"status": "completed"}))
    bridge = make_bridge(grace_s=0.1)
    post(bridge.traces, weather_spans())
    got = wait_for_reports(recorder, 2, timeout=20)
    assert [r.path for r in got] == [path, path]
    assert got[0].json() == got[1].json()
    deadline = time.monotonic() + 5
    while "xpander_bridge_reports_sent_total 1\n" not in (text := httpx.get(f"{bridge.url}/metrics").text):
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
    assert "xpander_bridge_reports_retried_total 1\n" in text
    assert "xpander_bridge_reports_spooled 0\n" in text
    assert "xpander_bridge_reports_assembled_total 1\n" in text


def test_undelivered_reports_past_the_limit_make_the_bridge_answer_503(make_bridge, recorder):
    recorder.reply("POST", "/agent-execution/agent-123/report_task", Reply(503, {"detail": "down"}))
    bridge = make_bridge(grace_s=0.1, max_spooled_reports=1)
    assert post(bridge.traces, weather_spans()).status_code == 200
    deadline = time.monotonic() + 10
    while "xpander_bridge_reports_spooled 1\n" not in httpx.get(f"{bridge.url}/metrics").text:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)  # the worker's next tick reads the spool
    assert post(bridge.traces, weather_spans()).status_code == 503
    recorder.replies.clear()  # xpander is back: the report goes out, the bridge takes spans again
    deadline = time.monotonic() + 20
    while post(bridge.traces, weather_spans()).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_default_spool_is_the_bridges_own_file_sized_above_the_backpressure_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    options = BridgeOptions(pipeline=PipelineSettings(max_spooled_reports=300))
    pipeline = build_pipeline(options, Configuration(base_url="http://127.0.0.1:9", api_key="k"))
    try:
        assert pipeline.delivery.spool.path == str(tmp_path / "xpander-otel" / "bridge-spool.sqlite3")
        assert pipeline.delivery.spool.max_rows == 600
    finally:
        pipeline.close(timeout_s=1)


class CountingSpool:
    def __init__(self) -> None:
        self.counts = 0

    def count(self) -> int:
        self.counts += 1
        return 0


class CountingAssembler(Assembler):
    expires = 0

    def expire(self, now: float) -> list:
        self.expires += 1
        return super().expire(now)


def test_expiry_and_the_spool_count_run_once_a_tick_not_once_a_batch():
    delivery = StoreDelivery(lambda agent_id, report: None)
    delivery.spool = CountingSpool()
    assembler = CountingAssembler(AssemblerSettings(default_agent_id="agent-1"))
    pipeline = BridgePipeline(assembler, delivery, PipelineSettings(grace_s=0, tick_s=3600), clock=lambda: 100.0)
    try:
        request = encode_spans(weather_spans())
        for _ in range(20):
            assert pipeline.ingest(request).accepted
            deadline = time.monotonic() + 5
            while pipeline.pending_spans:
                assert time.monotonic() < deadline
                time.sleep(0.001)
        assert pipeline.metrics.value("spans_received") == 80
        assert (assembler.expires, delivery.spool.counts) == (1, 1)
    finally:
        pipeline.close(timeout_s=2)


def test_the_bridge_process_collects_garbage_less_often():
    thresholds = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] > thresholds[0]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_a_full_bridge_refuses_a_request_before_converting_it(monkeypatch):
    pipeline = BridgePipeline(Assembler(AssemblerSettings(default_agent_id="agent-1")),
                              StoreDelivery(lambda agent_id, report: None),
                              PipelineSettings(grace_s=30, max_pending_spans=4))
    try:
        request = encode_spans(weather_spans())
        assert pipeline.ingest(request).accepted and pipeline.full

        def must_not_convert(*args, **kwargs):
            raise AssertionError("a full bridge converted a request it refuses")

        monkeypatch.setattr(pipeline_module, "records_from_request", must_not_convert)
        assert pipeline.ingest(request) is BUSY
        assert pipeline.metrics.value("requests_refused_busy") == 1
    finally:
        pipeline.close(timeout_s=2)
