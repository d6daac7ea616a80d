"""Servers the benchmarks start as processes on loopback ports (imported by the scripts beside it)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_until_healthy(start: Callable[[int, int], subprocess.Popen], log: Path, what: str,
                        attempts: int = 3) -> tuple[subprocess.Popen, int, int]:
    """``start(http_port, extra_port)`` a server whose stderr goes to ``log``; wait for its /healthz.

    A port picked free may be taken by another process before the server binds it: the server then exits,
    and it is started again on other ports. Returns the process and its two ports; if it never comes up,
    raises with the end of its stderr.
    """
    for _ in range(attempts):
        http_port, extra_port = free_port(), free_port()
        server = start(http_port, extra_port)
        deadline = time.monotonic() + 60
        while server.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).is_success:
                    return server, http_port, extra_port
            except httpx.TransportError:
                time.sleep(0.1)
        if server.poll() is None:  # up but never healthy: no point in other ports
            server.kill()
            break
    raise RuntimeError(f"the {what} did not start:\n{log.read_text(errors='replace')[-2000:]}")
