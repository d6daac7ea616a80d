"""The @on_task worker in its own process against the dev server's events routes (also a real process)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
from worker_apps.processes import (
    AGENT_ID,
    API_KEY,
    HERE,
    ORGANIZATION_ID,
    EventsServer,
    WorkerProcess,
    worker_env,
)

from _servers import free_port


@pytest.fixture
def server(tmp_path):
    events_server = EventsServer(free_port(), tmp_path).start()
    yield events_server
    events_server.stop()


@pytest.fixture
def workers(tmp_path):
    started: list[WorkerProcess] = []

    def start(handler: str, server_url: str, *args: str, **env: str) -> WorkerProcess:
        worker = WorkerProcess.run(handler, server_url, tmp_path / f"worker-{len(started)}.log", *args, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _updates(server: EventsServer, task_id: str) -> list[dict]:
    return [entry["body"] for entry in server.log()["log"] if entry["kind"] == "update" and entry["task_id"] == task_id]


def test_task_created_over_http_runs_traced_and_completes_with_tokens_and_tools(server, workers):
    workers("traced", server.url)
    server.wait_for_connections(1)
    created = server.create_task("weather in Paris?")
    assert created["status"] == "pending"

    done = server.wait_for_status(created["id"], "completed", "error")

    task_id = created["id"]
    assert done["result"] == (f"done: weather in Paris? | scope={task_id}/{AGENT_ID} | task span={task_id}"
                              f" | agent span={task_id} | same trace=True")
    # Chat spans 50/10 + 80/12; the agent span's aggregate (130/22) is not added a second time.
    assert done["tokens"] == {"prompt_tokens": 130, "completion_tokens": 22, "cache_read_tokens": 0,
                              "cache_write_tokens": 0, "total_tokens": 152}
    assert done["used_tools"] == ["get_weather"]
    assert [u["status"] for u in _updates(server, task_id)] == ["executing", "completed"]
    assert _updates(server, task_id)[0]["result"] is None


def test_handler_error_sets_status_error_with_the_exception_text(server, workers):
    workers("boom", server.url)
    server.wait_for_connections(1)
    created = server.create_task("Lyon")

    done = server.wait_for_status(created["id"], "completed", "error")

    assert done["status"] == "error"
    assert done["result"] == "the weather tool exploded on 'Lyon'"
    assert done["tokens"] is None and done["used_tools"] == []


def test_what_the_handler_sets_wins_over_the_spans(server, workers):
    workers("own_metrics", server.url)
    server.wait_for_connections(1)
    created = server.create_task("count")

    done = server.wait_for_status(created["id"], "failed", "completed", "error")

    assert (done["status"], done["result"], done["used_tools"]) == ("failed", "counted by hand", ["calculator"])
    assert done["tokens"]["total_tokens"] == 10


def test_worker_wire_heartbeat_headers_and_bodies(server, workers):
    workers("traced", server.url)
    worker_id = server.wait_for_connections(1)[0]["id"]
    time.sleep(2.5)  # a heartbeat every 2 s

    events = [e for e in server.log()["log"] if e["kind"] == "worker_event"]

    heartbeats = [e["body"] for e in events if e["body"]["event"] == "worker-heartbeat"]
    assert len(heartbeats) >= 2
    assert all(e["worker_id"] == worker_id for e in events)
    assert set(heartbeats[0]) == {"id", "event", "data"}
    assert re.fullmatch(r"[0-9a-f-]{36}", heartbeats[0]["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", heartbeats[0]["data"])


def test_listen_and_event_requests_carry_the_sdk_paths_query_and_api_key(tmp_path):
    """Against a recording server: the exact requests a worker sends, as xpander-sdk sends them."""
    from _servers import RecordingServer, Reply, ServerThread

    recorder = RecordingServer()
    stream = (f'event: worker-registration\ndata: {{"id": "w-1", "name": "n", "organization_id": "{ORGANIZATION_ID}"}}'
              "\n\n")
    recorder.reply("GET", f"/{ORGANIZATION_ID}/events/{AGENT_ID}/",
                   Reply(200, stream, {"content-type": "text/event-stream"}))
    thread = ServerThread(recorder.app).start()
    worker = WorkerProcess.run("traced", thread.url, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(r.method == "POST" for r in recorder.requests):
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.stop()
    listen = next(r for r in recorder.requests if r.method == "GET")
    assert (listen.path, listen.query) == (f"/{ORGANIZATION_ID}/events/{AGENT_ID}/",
                                           "environment=local&supports_llm_gateway=true")
    assert listen.headers["x-api-key"] == API_KEY
    post = next(r for r in recorder.requests if r.method == "POST")
    assert (post.path, post.query) == (f"/{ORGANIZATION_ID}/events/w-1", f"type=worker&agent_id={AGENT_ID}")
    assert post.json()["event"] == "worker-heartbeat" and post.headers["x-api-key"] == API_KEY
    assert API_KEY not in worker.output()


def test_bounded_concurrency_and_capacity_events(server, workers):
    workers("slow", server.url)  # max_concurrency=2
    server.wait_for_connections(1)
    ids = [server.create_task("1.0")["id"] for _ in range(3)]

    for task_id in ids:
        assert server.wait_for_status(task_id, "completed")["result"] == "slept 1.0"

    log = server.log()["log"]
    running, most = 0, 0
    for entry in log:
        if entry["kind"] == "update":
            running += 1 if entry["body"]["status"] == "executing" else -1
            most = max(most, running)
    assert most == 2
    capacity = [e["body"]["data"] for e in log if e["kind"] == "worker_event"
                and e["body"]["event"] == "worker-capacity-update"]
    # Full with tasks 1+2, a slot frees, task 3 fills it again, then everything frees. The middle two
    # are posted concurrently, so only the ends have a fixed order.
    assert len(capacity) == 4 and capacity[0] == {"is_busy": True} and capacity[-1] == {"is_busy": False}
    assert sorted(c["is_busy"] for c in capacity) == [False, False, True, True]


def test_worker_reconnects_after_a_server_restart_and_takes_the_next_task(server, workers):
    worker = workers("traced", server.url)
    first_worker_id = server.wait_for_connections(1)[0]["id"]
    assert server.wait_for_status(server.create_task("before")["id"], "completed")

    server.restart()
    second_worker_id = server.wait_for_connections(1)[0]["id"]
    created = server.create_task("after the restart")

    done = server.wait_for_status(created["id"], "completed")
    assert done["result"].startswith("done: after the restart |")
    assert second_worker_id != first_worker_id
    assert worker.proc.poll() is None


def test_environment_conflict_stops_the_worker_with_a_clear_message(server, workers):
    with httpx.stream("GET", f"{server.url}/{ORGANIZATION_ID}/events/{AGENT_ID}/",
                      params={"environment": "xpander"}, timeout=10) as cloud_stream:
        lines = cloud_stream.iter_lines()  # kept: dropping the iterator would close the stream
        assert next(lines) == "event: worker-registration"
        worker = workers("traced", server.url)

        code = worker.wait(timeout=30)

    assert code == 3
    assert "refused this worker for agent agent-1 (environment 'local')" in worker.output()
    assert "already has a worker connected in environment 'xpander'" in worker.output()


def test_sigterm_fails_a_task_that_outlives_the_grace_period(server, workers):
    worker = workers("hang", server.url)  # stop_grace_seconds=1
    server.wait_for_connections(1)
    created = server.create_task("forever")
    server.wait_for_status(created["id"], "executing")

    started = time.monotonic()
    assert worker.stop() == 0
    assert time.monotonic() - started < 10

    done = server.task(created["id"])
    assert (done["status"], done["result"]) == ("error", "the worker stopped before the task finished")


def test_guide_module_run_as_a_script_serves_tasks(server, tmp_path):
    worker = WorkerProcess([sys.executable, str(HERE / "guide_worker.py")], worker_env(server.url),
                           tmp_path / "guide.log")
    try:
        server.wait_for_connections(1)
        created = server.create_task("hello")
        done = server.wait_for_status(created["id"], "completed")
        assert done["result"] == f"guide: hello ({ORGANIZATION_ID})"
    finally:
        assert worker.stop() == 0


def test_run_with_prompt_runs_one_task_locally(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "xpander_otel.cli", "run", "task_handlers:traced", "--prompt", "Paris?"],
        cwd=HERE, env=worker_env("http://127.0.0.1:9"), capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["status"] == "completed"
    assert shown["agent_id"] == AGENT_ID
    assert shown["result"].startswith(f"done: Paris? | scope={shown['id']}/{AGENT_ID}")
    assert shown["tokens"]["total_tokens"] == 152 and shown["used_tools"] == ["get_weather"]


def test_run_with_prompt_exits_1_when_the_handler_raises():
    result = subprocess.run(
        [sys.executable, "-m", "xpander_otel.cli", "run", "task_handlers:boom", "--prompt", "Nice"],
        cwd=HERE, env=worker_env("http://127.0.0.1:9"), capture_output=True, text=True, timeout=60)

    assert result.returncode == 1
    shown = json.loads(result.stdout)
    assert (shown["status"], shown["result"]) == ("error", "the weather tool exploded on 'Nice'")


def test_on_task_requires_a_task_parameter():
    from xpander_otel import on_task

    with pytest.raises(TypeError, match="must take a 'task' parameter"):
        on_task(lambda job: job)




def test_a_second_signal_stops_at_once_without_waiting_the_grace_period(server, workers):
    worker = workers("hang_long", server.url)  # the default 30 s grace
    server.wait_for_connections(1)
    created = server.create_task("forever")
    server.wait_for_status(created["id"], "executing")

    started = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    worker.proc.send_signal(signal.SIGTERM)

    assert worker.wait(timeout=20) == 0
    assert time.monotonic() - started < 20
    done = server.task(created["id"])
    assert (done["status"], done["result"]) == ("error", "the worker stopped before the task finished")
    assert "stopping now, without waiting for running tasks" in worker.output()


def test_a_worker_without_organization_exits_2_with_the_reason(tmp_path):
    env = worker_env("http://127.0.0.1:9")
    del env["XPANDER_ORGANIZATION_ID"]
    result = subprocess.run([sys.executable, "-m", "xpander_otel.cli", "run", "task_handlers:traced"],
                            cwd=HERE, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert "xpander-otel run: the worker needs an organization id: set XPANDER_ORGANIZATION_ID" in result.stderr
