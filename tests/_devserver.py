"""The dev server as the tests use it: ``xpander-otel serve`` in a real process on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from _servers import free_port
from xpander_otel import Backend, Configuration


class DevServerProcess:
    """``python -m xpander_otel.cli serve --port N --db PATH [extra args]``; ready once ``/healthz`` answers.

    Use as a context manager, or ``start()``/``stop()``; ``stop()`` sends SIGTERM (a clean shutdown).
    """

    def __init__(self, db: Path, *extra: str, port: int | None = None) -> None:
        self.db = Path(db)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [sys.executable, "-m", "xpander_otel.cli", "serve", "--port", str(self.port),
                     "--db", str(self.db), *extra]
        self.log = self.db.with_name(f"{self.db.stem}-{self.port}.log")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> DevServerProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dev server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dev server not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    def __enter__(self) -> DevServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def backend(self, api_key: str | None = None) -> Backend:
        """Our client, configured for this server (no key from the environment)."""
        return Backend(Configuration(base_url=self.url, api_key=api_key, organization_id=None, agent_id=None))

    def create_agent(self, name: str, api_key: str | None = None, **fields: object) -> dict:
        """A new agent (fresh id unless given), so a test's counts are its own."""
        headers = {"x-api-key": api_key} if api_key else {}
        response = httpx.post(f"{self.url}/agents", json={"name": name, **fields}, headers=headers, timeout=10)
        response.raise_for_status()
        return response.json()
