"""End to end against the real dev server process (``xpander-otel serve``): a run made of GenAI spans
becomes exactly one stored task with the expected fields — in-process and zero-code."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
from _exporter_support import weather_run
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_zero_code import APP, INSTRUMENT, app_env

from xpander_otel import Configuration
from xpander_otel.exporter import XpanderSpanExporter, XpanderSpanProcessor
from xpander_otel.exporter.assembler import task_id_for


def tasks_of(devserver, agent_id: str) -> list[dict]:
    return httpx.get(f"{devserver.url}/tasks", params={"agent_id": agent_id}, timeout=10).json()["items"]


def check_weather_task(task: dict, agent_id: str, task_id: str) -> None:
    assert task["id"] == task_id
    assert task["agent_id"] == agent_id
    assert task["status"] == "completed"
    assert task["tokens"]["prompt_tokens"] == 130
    assert task["tokens"]["completion_tokens"] == 22
    assert task["tokens"]["total_tokens"] == 152
    assert task["used_tools"] == ["get_weather"]
    assert task["result"] == "It is sunny in Paris, 22 degrees."
    assert task["duration"] > 0


def test_a_run_exported_in_process_is_one_task_on_the_dev_server(devserver, tmp_path):
    agent = devserver.create_agent("exporter-e2e")
    exporter = XpanderSpanExporter(configuration=Configuration(base_url=devserver.url, api_key=None,
                                                               organization_id=None, agent_id=None),
                                   spool_path=tmp_path / "spool.sqlite3", watch_global_provider=False)
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    processor = XpanderSpanProcessor(exporter)
    provider.add_span_processor(processor)
    with provider.get_tracer("e2e").start_as_current_span("handle request"):
        weather_run(provider.get_tracer("e2e"), agent_id=agent["id"])
    assert processor.force_flush() and exporter.force_flush(10_000)
    root = next(s for s in memory.get_finished_spans() if s.name == "invoke_agent weather")
    [task] = tasks_of(devserver, agent["id"])
    check_weather_task(task, agent["id"], task_id_for(root.context.trace_id, root.context.span_id))
    assert task["input"]["text"] == "Weather in Paris?"
    assert task["llm_response"]["trace_id"] == format(root.context.trace_id, "032x")
    provider.shutdown()


def test_opentelemetry_instrument_run_is_one_task_on_the_dev_server(devserver, tmp_path):
    agent = devserver.create_agent("zero-code-e2e")
    env = app_env(devserver, tmp_path, XPANDER_AGENT_ID=agent["id"])
    env.pop("XPANDER_API_KEY")
    done = subprocess.run([str(INSTRUMENT), sys.executable, str(APP)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout)
    [task] = tasks_of(devserver, agent["id"])
    check_weather_task(task, agent["id"], task_id_for(ids["trace_id"], ids["span_id"]))
