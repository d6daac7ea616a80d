"""The real xpander-sdk worker (``@on_task`` from xpander_sdk) served by the dev server's events endpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from _devserver import DevServerProcess
from _servers import free_port
from xpander_otel.devserver.app import ServerSettings, create_app

HERE = Path(__file__).resolve().parent
AGENT_ID = "weather-agent"


@pytest.fixture
def server(tmp_path):
    with DevServerProcess(tmp_path / "tasks.sqlite3") as running:
        yield running


@pytest.fixture
def start_sdk_worker(tmp_path):
    started: list[subprocess.Popen] = []

    def start(server_url: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XPANDER_", "IS_XPANDER"))}
        env.update(XPANDER_BASE_URL=server_url, XPANDER_API_KEY="sdk-worker-key-0001",
                   XPANDER_ORGANIZATION_ID="local", XPANDER_AGENT_ID=AGENT_ID, XPANDER_STREAMING_PORT=str(free_port()))
        log = tmp_path / f"sdk-worker-{len(started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, str(HERE / "sdk_worker.py")], cwd=tmp_path, env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        proc.log = log
        started.append(proc)
        _wait_for_log(proc, "Worker registered")  # importing xpander-sdk takes long on a busy machine
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def sdk_worker(server, start_sdk_worker):
    return start_sdk_worker(server.url)


def _wait_for_log(proc, text: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in proc.log.read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the SDK worker exited:\n{proc.log.read_text()}")
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} in the SDK worker's log:\n{proc.log.read_text()}")


def _create(server, text: str) -> dict:
    response = httpx.post(f"{server.url}/agent-execution/{AGENT_ID}", json={"input": {"text": text}})
    assert response.status_code == 201, response.text
    return response.json()


def _wait(server, task_id: str, *statuses: str, worker=None, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    task: dict = {}
    while time.monotonic() < deadline:
        task = httpx.get(f"{server.url}/agent-execution/{task_id}/status").json()
        if task["status"] in statuses:
            return task
        if worker is not None and worker.poll() is not None:
            raise AssertionError(f"the SDK worker exited:\n{worker.log.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"task stayed {task.get('status')}:\n{worker.log.read_text() if worker else ''}")


def test_sdk_worker_runs_tasks_created_on_the_devserver(server, sdk_worker):
    created = _create(server, "Weather in Oslo?")

    done = _wait(server, created["id"], "completed", "error", worker=sdk_worker)

    assert (done["status"], done["result"]) == ("completed", "sdk worker: Weather in Oslo?")
    assert (done["tokens"]["prompt_tokens"], done["tokens"]["completion_tokens"]) == (5, 2)
    # xpander-sdk 2.0.537 reloads the task (GET .../status) after the handler and restores only result,
    # status and tokens, so the handler's used_tools never reach the final PATCH: the SDK's behaviour.
    assert done["used_tools"] == []
    # The SDK keeps its stream open and takes the next task on the same connection.
    second = _wait(server, _create(server, "and Bergen?")["id"], "completed", worker=sdk_worker)
    assert second["result"] == "sdk worker: and Bergen?"


def test_sdk_worker_reports_a_failing_handler_as_error(server, sdk_worker):
    created = _create(server, "fail")

    done = _wait(server, created["id"], "completed", "error", worker=sdk_worker)

    assert (done["status"], done["result"]) == ("error", "the SDK handler failed on purpose")


class InProcessDevServer:
    """The dev server app in a uvicorn thread of this process: a restart takes well under a second,
    inside the SDK's window (it exits when 5 attempts, 1+2+3+3 s apart, fail), unlike a new process
    that must import everything again on a busy machine."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread: threading.Thread | None = None
        self.server: uvicorn.Server | None = None

    def start(self) -> InProcessDevServer:
        app = create_app(ServerSettings(db_path=self.db))
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
                                timeout_graceful_shutdown=0.5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "dev server did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.fixture
def in_process_server(tmp_path):
    server = InProcessDevServer(tmp_path / "tasks.sqlite3").start()
    yield server
    server.stop()


def test_sdk_worker_reconnects_after_a_devserver_restart(in_process_server, start_sdk_worker):
    server = in_process_server
    sdk_worker = start_sdk_worker(server.url)
    assert _wait(server, _create(server, "before")["id"], "completed", worker=sdk_worker)
    registered = sdk_worker.log.read_text().count("Worker registered")
    server.stop()
    server.start()
    deadline = time.monotonic() + 60
    while sdk_worker.log.read_text().count("Worker registered") == registered and time.monotonic() < deadline:
        assert sdk_worker.poll() is None, sdk_worker.log.read_text()
        time.sleep(0.2)

    after = _wait(server, _create(server, "after")["id"], "completed", worker=sdk_worker)

    assert after["result"] == "sdk worker: after"
