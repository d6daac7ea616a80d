"""A process killed with SIGKILL right after its run: the report waits in the spool and the next process
delivers it, exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _servers import Reply

HERE = Path(__file__).parent
PATH = "/agent-execution/agent-123/report_task"


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XPANDER_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_process_reports_are_replayed_once_by_the_next_process(recorder, tmp_path):
    spool = str(tmp_path / "spool.sqlite3")
    script = str(HERE / "scripts" / "crash_child.py")
    recorder.reply("POST", PATH, Reply(503))  # the endpoint is down while the first process lives
    child = subprocess.Popen([sys.executable, script, spool, recorder.url, "crash"], stdout=subprocess.PIPE,
                             env=child_env(), text=True)
    try:
        info = json.loads(child.stdout.readline())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert info["spooled_after"] < 1.0  # durable within a second of the run's end
    # A POST the child had on the wire when it was killed may still be read by the recorder: let the count
    # settle before counting, so that attempt is not taken for the next process's delivery.
    settle_request_count(recorder)

    with recorder.lock:
        before = len(recorder.requests)
        assert all(r.json() == info["expected"] for r in recorder.requests)  # only 503-answered attempts
        recorder.replies[("POST", PATH)] = [Reply(200, {})]

    second = subprocess.run([sys.executable, script, spool, recorder.url, "replay"], capture_output=True,
                            env=child_env(), text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {"flushed": True}
    delivered = [r.json() for r in recorder.requests[before:] if r.path == PATH]
    assert delivered == [info["expected"]]


def settle_request_count(recorder, quiet_s: float = 0.5, timeout_s: float = 10.0) -> None:
    """Wait until the recorder has seen no new request for ``quiet_s``."""
    deadline = time.monotonic() + timeout_s
    seen, since = len(recorder.requests), time.monotonic()
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.05)
        if len(recorder.requests) != seen:
            seen, since = len(recorder.requests), time.monotonic()
