"""End to end: ``xpander-otel serve`` + an @on_task worker running an instrumented Agno agent from get_args.

Both are real processes; the agent's model is the dev server's own scripted LLM (the example
``weather-agent`` points ``llm_api_base`` at it): a get_weather call (50/10 tokens), then the answer (80/12).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from _devserver import DevServerProcess
from xpander_otel.devserver.scripted_llm import FINAL_ANSWER

HERE = Path(__file__).resolve().parent
AGENT_ID = "weather-agent"


@pytest.fixture
def devserver(tmp_path):
    with DevServerProcess(tmp_path / "tasks.sqlite3") as running:
        yield running


@pytest.fixture(params=["worker only", "worker and span exporter"])
def agno_worker(request, devserver, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XPANDER_", "OTEL_", "IS_XPANDER"))}
    env.update(XPANDER_BASE_URL=devserver.url, XPANDER_API_KEY="agno-worker-key-01",
               XPANDER_ORGANIZATION_ID="local", XPANDER_AGENT_ID=AGENT_ID, SPANS_FILE=str(tmp_path / "spans.jsonl"))
    if request.param == "worker and span exporter":
        # The exporter also reports the run: under the platform's task id, so still one record.
        env.update(WITH_EXPORTER="1", XPANDER_OTEL_SPOOL=str(tmp_path / "spool.sqlite3"))
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(HERE / "agno_worker.py")], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    proc.log, proc.spans, proc.with_exporter = log, tmp_path / "spans.jsonl", request.param != "worker only"
    yield proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()


def _wait(url: str, task_id: str, worker, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    task: dict = {}
    while time.monotonic() < deadline:
        task = httpx.get(f"{url}/agent-execution/{task_id}/status").json()
        if task["status"] in ("completed", "error", "failed"):
            return task
        assert worker.poll() is None, worker.log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"task stayed {task.get('status')}:\n{worker.log.read_text()}")


def test_agno_task_from_the_devserver_completes_with_tokens_tools_and_one_record(devserver, agno_worker):
    created = httpx.post(f"{devserver.url}/agent-execution/{AGENT_ID}",
                         json={"input": {"text": "What is the weather in Paris?"}}).json()

    done = _wait(devserver.url, created["id"], agno_worker)

    assert (done["status"], done["result"]) == ("completed", FINAL_ANSWER), agno_worker.log.read_text()
    assert (done["tokens"]["prompt_tokens"], done["tokens"]["completion_tokens"], done["tokens"]["total_tokens"]) == (
        130, 22, 152)
    assert done["used_tools"] == ["get_weather"]
    tasks = httpx.get(f"{devserver.url}/tasks").json()
    assert [t["id"] for t in tasks["items"]] == [created["id"]]
    # The model calls went to the dev server's scripted LLM with the agent's instructions.
    llm_requests = httpx.get(f"{devserver.url}/_scripted/requests").json()
    assert [r["model"] for r in llm_requests] == ["scripted-weather", "scripted-weather"]

    spans = [json.loads(line) for line in agno_worker.spans.read_text().splitlines()]
    [task_span] = [s for s in spans if s["name"] == "xpander.task"]
    assert task_span["parent_id"] is None
    assert task_span["attributes"] == {"xpander.task.id": created["id"], "xpander.agent.id": AGENT_ID}
    run = [s for s in spans if s["trace_id"] == task_span["trace_id"]]
    [agent_span] = [s for s in run if s["attributes"].get("gen_ai.operation.name") == "invoke_agent"]
    assert agent_span["parent_id"] == task_span["span_id"]
    assert agent_span["attributes"]["xpander.task.id"] == created["id"]
    assert agent_span["attributes"]["xpander.agent.id"] == AGENT_ID
    operations = sorted(s["attributes"].get("gen_ai.operation.name", "") for s in run)
    assert operations.count("chat") == 2 and operations.count("execute_tool") == 1
    if agno_worker.with_exporter:
        # The exporter's report landed on the same record (its llm_response carries the run's trace id).
        deadline = time.monotonic() + 15
        while (stored := httpx.get(f"{devserver.url}/tasks/{created['id']}").json()).get("llm_response") is None:
            assert time.monotonic() < deadline, agno_worker.log.read_text()
            time.sleep(0.1)
        assert stored["llm_response"]["trace_id"] == task_span["trace_id"]
        assert (stored["status"], stored["result"], stored["used_tools"]) == ("completed", FINAL_ANSWER, ["get_weather"])
        assert stored["tokens"]["total_tokens"] == 152
        assert [t["id"] for t in httpx.get(f"{devserver.url}/tasks").json()["items"]] == [created["id"]]
