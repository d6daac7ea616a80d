"""``xpander-otel serve`` (a real process) + an ``@on_task`` worker process: the local platform round trip."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from worker_apps.processes import WorkerProcess

from _devserver import DevServerProcess

AGENT_ID = "weather-agent"  # one of the example agents the server starts with


@pytest.fixture
def devserver(tmp_path):
    with DevServerProcess(tmp_path / "tasks.sqlite3") as running:
        yield running


@pytest.fixture
def start_worker(tmp_path):
    started: list[WorkerProcess] = []

    def start(server_url: str, handler: str = "traced") -> WorkerProcess:
        worker = WorkerProcess.run(handler, server_url, tmp_path / f"worker-{len(started)}.log",
                                   XPANDER_AGENT_ID=AGENT_ID, XPANDER_ORGANIZATION_ID="local")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _wait(url: str, task_id: str, *statuses: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = httpx.get(f"{url}/agent-execution/{task_id}/status").json()
        if task["status"] in statuses:
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} stayed {task['status']}")


def test_task_created_on_the_devserver_completes_through_the_worker_as_one_record(devserver, start_worker):
    created = httpx.post(f"{devserver.url}/agent-execution/{AGENT_ID}",
                         json={"input": {"text": "Weather in Paris?"}}).json()
    assert (created["status"], created["agent_id"], created["organization_id"]) == ("pending", AGENT_ID, "local")
    assert created["input"] == {"text": "Weather in Paris?", "files": [], "user": None}
    assert httpx.get(f"{devserver.url}/agent-execution/{created['id']}/status").json()["status"] == "pending"

    start_worker(devserver.url)  # started after the task: it is handed over on registration
    done = _wait(devserver.url, created["id"], "completed", "error")

    assert done["status"] == "completed"
    assert done["result"].startswith(f"done: Weather in Paris? | scope={created['id']}/{AGENT_ID}")
    assert (done["tokens"]["prompt_tokens"], done["tokens"]["completion_tokens"], done["tokens"]["total_tokens"]) == (
        130, 22, 152)
    assert done["used_tools"] == ["get_weather"]
    assert done["duration"] > 0
    listed = httpx.get(f"{devserver.url}/tasks", params={"agent_id": AGENT_ID}).json()
    assert [t["id"] for t in listed["items"]] == [created["id"]]
    page = httpx.get(f"{devserver.url}/tasks/{created['id']}/view").text
    assert 'class="status completed"' in page and "get_weather" in page


def test_run_task_form_creates_a_task_the_worker_runs(devserver, start_worker):
    start_worker(devserver.url)
    list_page = httpx.get(f"{devserver.url}/").text
    assert 'action="/tasks/run"' in list_page and f'<option value="{AGENT_ID}">' in list_page

    posted = httpx.post(f"{devserver.url}/tasks/run", data={"agent_id": AGENT_ID, "text": "Rome?"})

    assert posted.status_code == 303
    task_id = re.fullmatch(r"/tasks/([0-9a-f-]{36})/view", posted.headers["location"]).group(1)
    assert _wait(devserver.url, task_id, "completed")["result"].startswith("done: Rome? |")


def test_run_locally_tasks_are_not_pushed_and_updates_echo_the_task(devserver):
    local = httpx.post(f"{devserver.url}/agent-execution/{AGENT_ID}",
                       json={"input": {"text": "mine"}, "run_locally": True}).json()
    with httpx.stream("GET", f"{devserver.url}/local/events/{AGENT_ID}/",
                      params={"environment": "local", "supports_llm_gateway": "true"}, timeout=5) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == "event: worker-registration"
        asset = json.loads(next(lines).removeprefix("data: "))
        pushed = httpx.post(f"{devserver.url}/agent-execution/{AGENT_ID}", json={"input": {"text": "yours"}}).json()
        assert next(lines) == ""
        assert next(lines) == "event: agent-execution"
        assert json.loads(next(lines).removeprefix("data: ")) == pushed
    assert set(asset) >= {"id", "name", "organization_id", "type", "created_at", "last_heartbeat", "created_by",
                          "dedicated_agent_id", "parent_asset_id"}
    assert (asset["organization_id"], asset["type"], asset["created_by"]) == ("local", "worker", None)

    answer = httpx.patch(f"{devserver.url}/agent-execution/{local['id']}/update",
                         json={**local, "status": "executing", "result": None})
    assert answer.headers["content-type"] == "application/json"
    assert (answer.json()["id"], answer.json()["status"], answer.json()["run_locally"]) == (local["id"], "executing", True)
    missing = httpx.patch(f"{devserver.url}/agent-execution/no-such-task/update", json={"status": "completed"})
    assert (missing.status_code, missing.headers["content-type"]) == (404, "application/json")


def test_pending_task_survives_a_devserver_restart_and_runs_after_it(tmp_path, start_worker):
    server = DevServerProcess(tmp_path / "tasks.sqlite3").start()
    try:
        worker = start_worker(server.url)
        time.sleep(1)
        server.stop()
        server.start()
        created = httpx.post(f"{server.url}/agent-execution/{AGENT_ID}", json={"input": {"text": "again"}}).json()
        assert _wait(server.url, created["id"], "completed", timeout=45)["result"].startswith("done: again |")
        assert worker.proc.poll() is None
    finally:
        server.stop()
