"""Processes the worker tests start: the events server and ``xpander-otel run`` workers (all on loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
API_KEY = "test-worker-key-0123456789"
ORGANIZATION_ID = "org-1"
AGENT_ID = "agent-1"


class EventsServer:
    """``events_server.py`` on a fixed port; ``restart()`` stops it and starts a fresh one there."""

    def __init__(self, port: int, log_dir: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> EventsServer:
        self.starts += 1
        log = open(self.log_dir / f"server-{self.starts}.log", "wb")  # noqa: SIM115 - the process owns it
        self.proc = subprocess.Popen([sys.executable, str(HERE / "events_server.py"), str(self.port)],
                                     stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/_test/log", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("events server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_task(self, text: str, **extra: Any) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/agent-execution/{AGENT_ID}", json={"input": {"text": text}, **extra})
        assert response.status_code == 201, response.text
        return response.json()

    def task(self, task_id: str) -> dict[str, Any]:
        return httpx.get(f"{self.url}/agent-execution/{task_id}/status").json()

    def wait_for_status(self, task_id: str, *statuses: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.task(task_id)
            if task.get("status") in statuses:
                return task
            time.sleep(0.05)
        raise AssertionError(f"task {task_id} never reached {statuses}: {self.task(task_id)}")

    def log(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_test/log").json()

    def wait_for_connections(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            connections = self.log()["connections"]
            if len(connections) == count:
                return connections
            time.sleep(0.05)
        raise AssertionError(f"expected {count} worker connection(s), have {self.log()['connections']}")


def worker_env(server_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XPANDER_", "OTEL_", "IS_XPANDER"))}
    return {**env, "XPANDER_BASE_URL": server_url, "XPANDER_API_KEY": API_KEY,
            "XPANDER_ORGANIZATION_ID": ORGANIZATION_ID, "XPANDER_AGENT_ID": AGENT_ID, **extra}


class WorkerProcess:
    """A worker process: ``xpander-otel run module:handler`` (or any command) with stderr in a file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(command, cwd=HERE, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    @classmethod
    def run(cls, handler: str, server_url: str, log_path: Path, *args: str, **env: str) -> WorkerProcess:
        command = [sys.executable, "-m", "xpander_otel.cli", "run", f"task_handlers:{handler}", *args]
        return cls(command, worker_env(server_url, **env), log_path)

    def output(self) -> str:
        return self.log_path.read_text()

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode
