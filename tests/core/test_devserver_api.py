"""The dev server's xpander-compatible API, driven by our Backend against a real server process."""

from __future__ import annotations

import uuid

import httpx
import pytest

from xpander_otel import Backend, Configuration, ModuleException, Tokens

# Fields the server fills in itself: compared by shape, not by value.
SERVER_TIMES = ("created_at", "updated_at", "finished_at")


def _without_times(task: dict) -> dict:
    return {k: v for k, v in task.items() if k not in SERVER_TIMES}


def _report(backend: Backend, agent_id: str, task_id: str, **fields):
    defaults = {"input": "What is the weather in Paris?", "result": "It is sunny in Paris, 22 degrees.",
                "tokens": Tokens(prompt_tokens=130, completion_tokens=22), "duration": 2.5,
                "used_tools": ["get_weather"], "llm_response": {"model": "gpt-4.1", "finish_reason": "stop"}}
    return backend.report_external_task(agent_id=agent_id, id=task_id, **{**defaults, **fields})


def test_reported_task_reads_back_exactly(devserver):
    agent = devserver.create_agent("Reader")
    backend = devserver.backend()
    returned = _report(backend, agent["id"], "task-read-1")

    assert returned.id == "task-read-1"
    assert returned.agent_id == agent["id"]
    assert returned.status == "completed"
    assert returned.input.text == "What is the weather in Paris?"
    assert returned.tokens == Tokens(prompt_tokens=130, completion_tokens=22, total_tokens=152)
    assert returned.used_tools == ["get_weather"]

    response = httpx.get(f"{devserver.url}/tasks/task-read-1")
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert _without_times(body) == {
        "id": "task-read-1",
        "agent_id": agent["id"],
        "agent_version": "1",
        "organization_id": "local",
        "status": "completed",
        "input": {"text": "What is the weather in Paris?", "files": [], "user": None},
        "result": "It is sunny in Paris, 22 degrees.",
        "is_success": True,
        "tokens": {"prompt_tokens": 130, "completion_tokens": 22, "total_tokens": 152,
                   "cache_read_tokens": 0, "cache_write_tokens": 0},
        "used_tools": ["get_weather"],
        "duration": 2.5,
        "llm_response": {"model": "gpt-4.1", "finish_reason": "stop"},
        "source": "external",
    }
    assert body["created_at"] == body["updated_at"] == body["finished_at"]
    status = httpx.get(f"{devserver.url}/agent-execution/task-read-1/status").json()
    assert status == body


def test_re_reporting_an_id_updates_the_task_instead_of_adding_one(devserver):
    agent = devserver.create_agent("Updater")
    backend = devserver.backend()
    first = httpx.get(f"{devserver.url}/tasks/{_report(backend, agent['id'], 'task-upd').id}").json()
    _report(backend, agent["id"], "task-upd", result="It failed.", is_success=False, used_tools=["a", "b"],
            tokens=Tokens(prompt_tokens=1, completion_tokens=2))

    page = httpx.get(f"{devserver.url}/tasks", params={"agent_id": agent["id"]}).json()
    assert page["total"] == 1
    [task] = page["items"]
    assert (task["id"], task["status"], task["is_success"], task["result"]) == ("task-upd", "failed", False, "It failed.")
    assert task["used_tools"] == ["a", "b"]
    assert task["tokens"]["total_tokens"] == 3
    assert task["created_at"] == first["created_at"]
    assert task["updated_at"] > first["updated_at"]


def test_report_without_id_gets_a_new_uuid(devserver):
    agent = devserver.create_agent("No id")
    response = httpx.post(f"{devserver.url}/agent-execution/{agent['id']}/report_task",
                          json={"input": "hi", "result": "hello"})
    assert response.status_code == 200
    task_id = response.json()["id"]
    assert str(uuid.UUID(task_id)) == task_id
    assert httpx.get(f"{devserver.url}/tasks/{task_id}").json()["result"] == "hello"


def test_agent_versions_follow_x_agent_version(devserver):
    agent_id = f"versioned-{uuid.uuid4().hex[:8]}"
    first = devserver.create_agent("Versioned", id=agent_id, model_name="gpt-4.1")
    second = devserver.create_agent("Versioned", id=agent_id, model_name="gpt-5")
    assert (first["version"], second["version"]) == (1, 2)

    backend = devserver.backend()
    assert backend.get_agent(agent_id).model_name == "gpt-5"
    assert backend.get_agent(agent_id, agent_version=1).model_name == "gpt-4.1"
    with pytest.raises(ModuleException) as missing:
        backend.get_agent(agent_id, agent_version=9)
    assert missing.value.status_code == 404
    assert f"agent '{agent_id}' has no version 9" in missing.value.description

    listed = [a for a in httpx.get(f"{devserver.url}/agents/list").json() if a["id"] == agent_id]
    assert [(a["name"], a["version"], a["model_name"]) for a in listed] == [("Versioned", 2, "gpt-5")]


def test_example_agent_serves_the_scripted_llm_of_this_server(devserver):
    agent = httpx.get(f"{devserver.url}/agents/weather-agent").json()
    assert agent["llm_api_base"] == f"{devserver.url}/v1"
    for field in ("id", "organization_id", "name", "unique_name", "framework", "model_provider", "model_name"):
        assert agent[field], field

    args = devserver.backend().get_args(agent_id="weather-agent", framework="neutral")
    assert (args["api_base"], args["model_name"]) == (f"{devserver.url}/v1", "scripted-weather")
    # The scripted LLM is mounted at /v1 of the same server.
    answer = httpx.post(f"{args['api_base']}/chat/completions",
                        json={"model": args["model_name"], "messages": [{"role": "user", "content": "hi"}]})
    assert answer.json()["choices"][0]["message"]["content"] == "It is sunny in Paris, 22 degrees."


def test_history_lists_an_agents_tasks_newest_first_and_filters_by_status(devserver):
    agent = devserver.create_agent("Historian")
    backend = devserver.backend()
    for n in range(3):
        _report(backend, agent["id"], f"hist-{agent['id']}-{n}", is_success=n != 1)

    history = httpx.get(f"{devserver.url}/agent-execution/executions/history/{agent['id']}").json()
    assert [t["id"] for t in history] == [f"hist-{agent['id']}-{n}" for n in (2, 1, 0)]
    failed = httpx.get(f"{devserver.url}/agent-execution/executions/history/{agent['id']}",
                       params={"status": "failed"}).json()
    assert [t["id"] for t in failed] == [f"hist-{agent['id']}-1"]


def test_tasks_json_pages_newest_first(devserver):
    agent = devserver.create_agent("Pager")
    backend = devserver.backend()
    ids = [f"page-{agent['id']}-{n}" for n in range(7)]
    for task_id in ids:
        _report(backend, agent["id"], task_id)

    def page(offset: int) -> dict:
        return httpx.get(f"{devserver.url}/tasks", params={"agent_id": agent["id"], "limit": 3,
                                                           "offset": offset}).json()

    pages = [page(0), page(3), page(6)]
    assert [p["total"] for p in pages] == [7, 7, 7]
    assert [t["id"] for p in pages for t in p["items"]] == ids[::-1]


@pytest.mark.parametrize("prefix", ["/acme", "/agent-controller/acme"])
def test_routes_also_answer_under_organization_prefixes(devserver, prefix):
    agent = devserver.create_agent("Prefixed")
    response = httpx.get(f"{devserver.url}{prefix}/agents/{agent['id']}")
    assert response.status_code == 200
    assert response.json()["id"] == agent["id"]
    assert httpx.get(f"{devserver.url}{prefix}/metadata/default_llm_extra_headers").json() == {}


def test_backend_on_an_agent_controller_url_reports_through_the_org_prefix(devserver):
    agent = devserver.create_agent("Controller")
    backend = Backend(Configuration(base_url=f"{devserver.url}/agent-controller", organization_id="acme",
                                    api_key=None, agent_id=None))
    task = backend.report_external_task(agent_id=agent["id"], id=f"ctl-{agent['id']}", result="ok")
    assert task.id == f"ctl-{agent['id']}"
    assert httpx.get(f"{devserver.url}/tasks/{task.id}").json()["result"] == "ok"


def test_default_llm_extra_headers_is_an_empty_json_object(devserver):
    response = httpx.get(f"{devserver.url}/metadata/default_llm_extra_headers")
    assert (response.status_code, response.headers["content-type"], response.json()) == (
        200, "application/json", {})
