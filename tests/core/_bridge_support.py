"""Bridge processes for the tests: ``xpander-otel bridge`` on free loopback ports, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from _servers import free_port

API_KEY = "bridge-test-key"


class BridgeProcess:
    """One bridge process; ``.http`` is its OTLP/HTTP base URL, ``.grpc`` its ``host:port``."""

    def __init__(self, xpander_url: str, spool: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.http_port, self.grpc_port = free_port(), free_port()
        self.http = f"http://127.0.0.1:{self.http_port}"
        self.grpc = f"127.0.0.1:{self.grpc_port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("XPANDER_", "OTEL_"))}
        clean.update({"XPANDER_BASE_URL": xpander_url, "XPANDER_API_KEY": API_KEY, **(env or {})})
        self.log = spool.with_suffix(".log")
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "xpander_otel.cli", "bridge", "--http-port", str(self.http_port),
             "--grpc-port", str(self.grpc_port), "--spool", str(spool), *args],
            env=clean, stdout=self._log_file, stderr=subprocess.STDOUT)

    def ready(self) -> BridgeProcess:
        """Wait until ``/healthz`` answers (start several processes first, then wait for each)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bridge exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.http}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("bridge did not become ready")

    def metrics(self) -> dict[str, float]:
        text = httpx.get(f"{self.http}/metrics").text
        return {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and line[0] != "#"}

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log_file.close()
        return self.process.returncode


def reports(recorder) -> list:
    return [r for r in list(recorder.requests) if r.path.endswith("/report_task")]


def wait_for_reports(recorder, count: int, timeout: float = 20.0, settle: float = 0.0) -> list:
    """The report requests, once ``count`` arrived (then ``settle`` seconds more, to catch extra ones)."""
    deadline = time.monotonic() + timeout
    while len(reports(recorder)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    if settle:
        time.sleep(settle)
    return reports(recorder)
