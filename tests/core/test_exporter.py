"""XpanderSpanExporter with a real SDK TracerProvider: GenAI spans made through the OpenTelemetry API in,
exact report bodies out on a recording HTTP server."""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest
from _exporter_support import expected_weather_body, weather_run
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import xpander_otel
from _servers import Reply, free_port
from xpander_otel import Configuration, semconv, task_context
from xpander_otel.exporter import XpanderSpanExporter, XpanderSpanProcessor
from xpander_otel.exporter.assembler import task_id_for
from xpander_otel.exporter.delivery import RetryPolicy

API_KEY = "xpk-test-0123456789"


class Pipeline:
    """A TracerProvider with our processor + exporter, and an in-memory copy of every span."""

    def __init__(self, url: str, tmp_path, exporter_cls=XpanderSpanExporter, **processor_kw) -> None:
        self.exporter = exporter_cls(configuration=Configuration(api_key=API_KEY, base_url=url),
                                     spool_path=tmp_path / "spool.sqlite3",
                                     retry_policy=RetryPolicy(base_s=0.05, max_s=0.2), request_timeout_s=2,
                                     watch_global_provider=False)
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.processor = XpanderSpanProcessor(self.exporter, **processor_kw)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("test")

    def root(self, name: str = "invoke_agent weather"):
        return next(s for s in self.memory.get_finished_spans() if s.name == name)

    def expected(self, **kw):
        root = self.root()
        return expected_weather_body(task_id_for(root.context.trace_id, root.context.span_id),
                                     format(root.context.trace_id, "032x"),
                                     (root.end_time - root.start_time) / 1e9, **kw)

    def flush(self) -> bool:
        return self.processor.force_flush() and self.exporter.force_flush(5000)

    def close(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def pipeline(recorder, tmp_path):
    p = Pipeline(recorder.url, tmp_path)
    yield p
    p.close()


def reports(recorder) -> list[tuple[str, dict]]:
    return [(r.path, r.json()) for r in recorder.requests if r.path.endswith("/report_task")]


def test_an_agent_run_arrives_as_one_exact_task_report(pipeline, recorder):
    weather_run(pipeline.tracer)
    assert pipeline.flush()
    assert reports(recorder) == [("/agent-execution/agent-123/report_task", pipeline.expected())]
    assert recorder.requests[0].headers["x-api-key"] == API_KEY


def test_a_failed_run_is_reported_as_failed(pipeline, recorder):
    weather_run(pipeline.tracer, fail=True)
    assert pipeline.flush()
    [(_, body)] = reports(recorder)
    assert (body["is_success"], body["result"]) == (False, "RuntimeError: model unavailable")
    assert body["tokens"]["total_tokens"] == 152


def test_a_run_inside_a_long_application_span_is_reported_before_that_span_ends(pipeline, recorder):
    with pipeline.tracer.start_as_current_span("handle request"):
        ended = time.monotonic()
        weather_run(pipeline.tracer)
        deadline = ended + 1.0
        while not reports(recorder) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reports(recorder) == [("/agent-execution/agent-123/report_task", pipeline.expected())]


def test_nested_agent_runs_make_one_task(pipeline, recorder):
    with pipeline.tracer.start_as_current_span("invoke_agent team", attributes={
            semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT, semconv.AGENT_NAME: "team",
            semconv.XPANDER_AGENT_ID: "agent-team"}):
        weather_run(pipeline.tracer)
    assert pipeline.flush()
    [(path, body)] = reports(recorder)
    assert path == "/agent-execution/agent-team/report_task"
    assert (body["tokens"]["total_tokens"], body["used_tools"]) == (152, ["get_weather"])


def test_export_returns_at_once_when_the_endpoint_is_down(tmp_path):
    p = Pipeline(f"http://127.0.0.1:{free_port()}", tmp_path)
    run_started = time.perf_counter()
    weather_run(p.tracer)
    assert time.perf_counter() - run_started < 0.5  # the application's own thread never waits
    spans = p.memory.get_finished_spans()
    started = time.perf_counter()
    assert p.exporter.export(spans) is SpanExportResult.SUCCESS
    assert time.perf_counter() - started < 0.25
    assert p.exporter.spool.count() == 1
    p.exporter.shutdown(200)


def test_export_never_raises(pipeline):
    assert pipeline.exporter.export([object()]) is SpanExportResult.FAILURE


def test_a_run_without_agent_id_is_dropped_with_one_warning(recorder, tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("XPANDER_AGENT_ID", raising=False)
    p = Pipeline(recorder.url, tmp_path)
    with caplog.at_level(logging.WARNING, logger="xpander_otel"):
        for _ in range(2):
            with p.tracer.start_as_current_span("invoke_agent helper", attributes={
                    semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT, semconv.AGENT_NAME: "helper"}):
                pass
        assert p.flush()
    warnings = [r.getMessage() for r in caplog.records if "no xpander agent id" in r.getMessage()]
    assert len(warnings) == 1 and "'helper'" in warnings[0] and "XPANDER_AGENT_ID" in warnings[0]
    assert reports(recorder) == []
    p.close()


def test_a_bad_configuration_disables_the_exporter_with_one_log_line(caplog, monkeypatch, tmp_path):
    monkeypatch.setenv("XPANDER_OTEL_AGENT_MAP", "weather")
    with caplog.at_level(logging.ERROR, logger="xpander_otel"):
        exporter = XpanderSpanExporter(spool_path=tmp_path / "s.sqlite3")
    assert [r.getMessage() for r in caplog.records] == [
        "xpander-otel exporter is disabled: XPANDER_OTEL_AGENT_MAP: expected name=agent_id pairs separated "
        "by commas, got 'weather'"]
    assert exporter.enabled is False
    assert exporter.export([]) is SpanExportResult.SUCCESS
    exporter.shutdown()


def test_environment_configures_the_exporter(recorder, tmp_path, monkeypatch):
    monkeypatch.setenv("XPANDER_BASE_URL", recorder.url)
    monkeypatch.setenv("XPANDER_API_KEY", API_KEY)
    monkeypatch.delenv("XPANDER_AGENT_ID", raising=False)
    monkeypatch.setenv("XPANDER_OTEL_SPOOL", str(tmp_path / "env-spool.sqlite3"))
    monkeypatch.setenv("XPANDER_OTEL_AGENT_MAP", '{"helper": "agent-helper"}')
    exporter = XpanderSpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(XpanderSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("invoke_agent helper", attributes={
            semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT, semconv.AGENT_NAME: "helper"}):
        pass
    provider.shutdown()
    assert [path for path, _ in reports(recorder)] == ["/agent-execution/agent-helper/report_task"]
    assert (tmp_path / "env-spool.sqlite3").exists()


class _BlockingExporter(XpanderSpanExporter):
    """Holds the first export until released, so the processor's queue overflows meanwhile."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.release = threading.Event()
        self.exported_chats = 0

    def export(self, spans):
        self.release.wait(10)
        self.exported_chats += sum(1 for s in spans if s.name.startswith("chat"))
        return super().export(spans)


def test_spans_dropped_by_a_full_queue_mark_the_report_incomplete(recorder, tmp_path):
    p = Pipeline(recorder.url, tmp_path, exporter_cls=_BlockingExporter, max_queue_size=4,
                 max_export_batch_size=4, schedule_delay_millis=60_000)
    with p.tracer.start_as_current_span("invoke_agent weather", attributes={
            semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT, semconv.XPANDER_AGENT_ID: "agent-123"}):
        for _ in range(12):
            with p.tracer.start_as_current_span("chat gpt-4.1", attributes={
                    semconv.OPERATION_NAME: semconv.OP_CHAT, semconv.USAGE_INPUT_TOKENS: 1,
                    semconv.USAGE_OUTPUT_TOKENS: 1}):
                pass
    p.exporter.release.set()
    assert p.flush()
    [(_, body)] = reports(recorder)
    assert body["llm_response"]["incomplete"] is True
    assert p.exporter.exported_chats < 12
    assert body["tokens"]["prompt_tokens"] == p.exporter.exported_chats
    p.close()


def test_a_report_refused_then_accepted_arrives_once(recorder, tmp_path):
    recorder.reply("POST", "/agent-execution/agent-123/report_task", Reply(503), Reply(502), Reply(200, {}))
    p = Pipeline(recorder.url, tmp_path)
    weather_run(p.tracer)
    assert p.flush()
    bodies = [body for _, body in reports(recorder)]
    assert bodies == [p.expected()] * 3
    p.close()


def test_an_agent_controller_url_without_organization_disables_the_exporter(caplog, tmp_path):
    with caplog.at_level(logging.ERROR, logger="xpander_otel"):
        exporter = XpanderSpanExporter(configuration=Configuration(api_key=API_KEY, base_url="http://127.0.0.1:9016"),
                                       spool_path=tmp_path / "s.sqlite3", watch_global_provider=False)
    assert exporter.enabled is False
    [message] = [r.getMessage() for r in caplog.records]
    assert message.startswith("xpander-otel exporter is disabled: http://127.0.0.1:9016 is an agent-controller URL")
    assert "XPANDER_ORGANIZATION_ID" in message


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_a_forked_child_delivers_its_runs_with_its_own_sender(pipeline, recorder):
    weather_run(pipeline.tracer, question="from the parent")
    assert pipeline.flush()
    pid = os.fork()
    if pid == 0:  # the child: a pre-forking server's worker
        code = 1
        try:
            weather_run(pipeline.tracer, question="from the child")
            code = 0 if pipeline.flush() else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while (waited := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    status = waited[1]
    if waited[0] == 0:  # a deadlocked child: end it, and fail
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child did not finish")
    assert os.waitstatus_to_exitcode(status) == 0
    assert sorted(body["input"] for _, body in reports(recorder)) == ["from the child", "from the parent"]


def test_runs_inside_task_context_are_reported_under_the_users_ids(pipeline, recorder):
    with xpander_otel.task(agent_id="agent-ctx", task_id="ext-job-9921"):
        # What an instrumentor does when it opens the agent span.
        attributes = {semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT, semconv.AGENT_NAME: "helper",
                      **task_context.xpander_attributes("helper")}
        with pipeline.tracer.start_as_current_span("invoke_agent helper", attributes=attributes):
            pass
    assert pipeline.flush()
    [(path, body)] = reports(recorder)
    assert (path, body["id"]) == ("/agent-execution/agent-ctx/report_task", "ext-job-9921")
