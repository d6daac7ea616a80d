"""``xpander-otel demo`` with Agno installed: the instrumented agent and the span exporter make the task."""

from __future__ import annotations

import subprocess
import sys

from _servers import free_port


def test_demo_runs_the_instrumented_agno_agent_and_the_exporter_reports_it(tmp_path):
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "xpander_otel.cli", "demo", "--exit", "--port", str(port), "--db",
         str(tmp_path / "demo.sqlite3")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "Agno agent 'Weather Agent' (weather-agent) on model scripted-weather, instrumented"
    task_id = lines[3].split()[1]
    assert lines[3] == f"Task {task_id}  [completed]"
    assert lines[4:8] == [
        "  input:    What is the weather in Paris right now?",
        "  result:   It is sunny in Paris, 22 degrees.",
        "  tokens:   130 prompt + 22 completion = 152",
        "  tools:    get_weather",
    ]
    assert "Traceback" not in done.stderr
