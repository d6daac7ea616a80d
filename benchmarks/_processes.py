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


def start_until_healthy(start: Callable[..., subprocess.Popen], log: Path, what: str, *, ports: int = 1,
                        attempts: int = 3) -> tuple[subprocess.Popen, list[int]]:
    """``start(*ports)`` a server whose stderr goes to ``log`` (its HTTP port first); wait for its /healthz.

    A port picked free may be taken by another process before the server binds it: the server then exits,
    and it is started again on other ports. Returns the process and its ports; if it never comes up,
    raises with the end of its stderr.
    """
    for _ in range(attempts):
        picked = [free_port() for _ in range(ports)]
        server = start(*picked)
        deadline = time.monotonic() + 60
        while server.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{picked[0]}/healthz", timeout=1).is_success:
                    return server, picked
            except httpx.TransportError:
                time.sleep(0.1)
        if server.poll() is None:  # up but never healthy: no point in other ports
            server.kill()
            break
    raise RuntimeError(f"the {what} did not start:\n{log.read_text(errors='replace')[-2000:]}")
