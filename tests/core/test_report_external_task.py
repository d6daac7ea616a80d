"""report_external_task on the wire: the same paths, headers and JSON bodies as xpander-sdk 2.x."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from _servers import Reply
from xpander_otel import Backend, Configuration, ModuleException, Task, Tokens

API_KEY = "xp-test-key-0001"

# The xpander Backend guide's example, value for value.
GUIDE_EXAMPLE = dict(
    agent_id="agent-123",
    id="ext-job-9921",
    input="Summarize Q4 earnings",
    result="Q4 revenue grew 22% YoY, driven by ...",
    tokens=Tokens(prompt_tokens=2_140, completion_tokens=380),
    duration=4.7,
    used_tools=["web_search", "fetch_pdf"],
    is_success=True,
)
GUIDE_BODY = {
    "id": "ext-job-9921",
    "input": "Summarize Q4 earnings",
    "llm_response": None,
    "tokens": {
        "completion_tokens": 380,
        "prompt_tokens": 2140,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "total_tokens": 2520,
    },
    "is_success": True,
    "result": "Q4 revenue grew 22% YoY, driven by ...",
    "duration": 4.7,
    "used_tools": ["web_search", "fetch_pdf"],
}


@pytest.fixture
def backend(recorder):
    return Backend(Configuration(api_key=API_KEY, base_url=recorder.url))


def _only_request(recorder):
    assert len(recorder.requests) == 1
    return recorder.requests[0]


def test_full_report_sends_the_guide_example_exactly(backend, recorder):
    task = backend.report_external_task(**GUIDE_EXAMPLE)

    sent = _only_request(recorder)
    assert (sent.method, sent.path) == ("POST", "/agent-execution/agent-123/report_task")
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == GUIDE_BODY
    assert isinstance(task, Task)
    assert (task.id, task.status, task.to_message()) == ("ext-job-9921", "completed", "Summarize Q4 earnings")


def test_full_report_async_sends_the_same_body(backend, recorder):
    task = asyncio.run(backend.areport_external_task(**GUIDE_EXAMPLE))

    sent = _only_request(recorder)
    assert (sent.method, sent.path) == ("POST", "/agent-execution/agent-123/report_task")
    assert sent.json() == GUIDE_BODY
    assert task.id == "ext-job-9921"


@pytest.mark.parametrize("run", ["sync", "async"])
def test_minimal_report_gets_a_fresh_uuid_and_sdk_defaults(backend, recorder, run):
    if run == "sync":
        backend.report_external_task(agent_id="agent-123", result="Success")
    else:
        asyncio.run(backend.areport_external_task(agent_id="agent-123", result="Success"))

    body = _only_request(recorder).json()
    task_id = body.pop("id")
    assert uuid.UUID(task_id).version == 4
    assert body == {
        "input": None,
        "llm_response": None,
        "tokens": None,
        "is_success": True,
        "result": "Success",
        "duration": 0,
        "used_tools": [],
    }


def test_agent_id_comes_from_environment(monkeypatch, recorder):
    monkeypatch.setenv("XPANDER_AGENT_ID", "agent-from-env")
    Backend(Configuration(api_key=API_KEY, base_url=recorder.url)).report_external_task(result="ok")
    assert _only_request(recorder).path == "/agent-execution/agent-from-env/report_task"


def test_missing_agent_id_names_the_variable(monkeypatch, backend, recorder):
    monkeypatch.delenv("XPANDER_AGENT_ID", raising=False)
    with pytest.raises(ValueError, match="XPANDER_AGENT_ID"):
        backend.report_external_task(result="ok")
    assert recorder.requests == []


def test_llm_response_is_sent_verbatim(backend, recorder):
    llm_response = {"model": "gpt-4.1", "content": "done", "usage": {"prompt_tokens": 3}}
    backend.report_external_task(agent_id="a1", id="t1", llm_response=llm_response)
    assert _only_request(recorder).json()["llm_response"] == llm_response


@pytest.mark.parametrize(
    ("status", "text"),
    [(401, "Invalid API key"), (404, "Agent not found"), (422, "bad body"), (503, "unavailable")],
)
def test_http_errors_become_module_exceptions(backend, recorder, status, text):
    recorder.reply("POST", "/agent-execution/a1/report_task", Reply(status, text.encode()))
    with pytest.raises(ModuleException) as caught:
        backend.report_external_task(agent_id="a1", result="x")
    assert (caught.value.status_code, caught.value.description) == (status, text)


def test_connection_refused_is_a_module_exception(unused_port=None):
    from _servers import free_port

    backend = Backend(Configuration(api_key=API_KEY, base_url=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(ModuleException) as caught:
        backend.report_external_task(agent_id="a1", result="x")
    assert caught.value.status_code == 500
    assert "POST /agent-execution/a1/report_task failed: ConnectError" in caught.value.description


def test_sync_call_works_inside_a_running_event_loop(backend, recorder):
    async def handler():
        # A sync call from async code: must not try to start a second event loop.
        return backend.report_external_task(agent_id="a1", id="t-loop", result="ok")

    task = asyncio.run(handler())
    assert task.id == "t-loop"
    assert json.loads(recorder.requests[0].body)["id"] == "t-loop"


def test_async_calls_from_two_event_loops_each_succeed(backend, recorder):
    for n in range(2):
        asyncio.run(backend.areport_external_task(agent_id="a1", id=f"t{n}", result="ok"))
    assert [r.json()["id"] for r in recorder.requests] == ["t0", "t1"]
