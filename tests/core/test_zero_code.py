"""Zero-code: ``opentelemetry-instrument`` with ``OTEL_TRACES_EXPORTER=xpander`` on an unmodified script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _exporter_support import expected_weather_body

from xpander_otel.exporter.assembler import task_id_for

HERE = Path(__file__).parent
APP = HERE / "scripts" / "plain_agent_app.py"
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"
API_KEY = "xpk-test-0123456789"


def app_env(recorder, tmp_path, **extra_env: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XPANDER_", "OTEL_"))}
    env.update({
        "OTEL_TRACES_EXPORTER": "xpander", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "plain-agent-app",
        "XPANDER_BASE_URL": recorder.url, "XPANDER_API_KEY": API_KEY, "XPANDER_AGENT_ID": "agent-zero",
        "XPANDER_OTEL_SPOOL": str(tmp_path / "spool.sqlite3"), **extra_env,
    })
    return env


def run_instrumented(recorder, tmp_path, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(INSTRUMENT), sys.executable, str(APP)], capture_output=True, text=True,
                          env=app_env(recorder, tmp_path, **extra_env), timeout=120)


def test_opentelemetry_instrument_reports_the_run_of_an_unmodified_script(recorder, tmp_path):
    done = run_instrumented(recorder, tmp_path)
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout)
    [request] = [r for r in recorder.requests if r.path.endswith("/report_task")]
    assert request.path == "/agent-execution/agent-zero/report_task"
    assert request.headers["x-api-key"] == API_KEY
    body = request.json()
    assert body["duration"] > 0
    assert body == expected_weather_body(task_id_for(ids["trace_id"], ids["span_id"]),
                                         format(ids["trace_id"], "032x"), body["duration"])
    assert done.stderr == ""


def test_a_bad_configuration_says_why_in_one_line_and_leaves_the_app_alone(recorder, tmp_path):
    done = run_instrumented(recorder, tmp_path, XPANDER_OTEL_AGENT_MAP="weather")
    assert done.returncode == 0
    assert set(json.loads(done.stdout)) == {"trace_id", "span_id"}
    assert done.stderr.splitlines() == [
        "xpander-otel exporter is disabled: XPANDER_OTEL_AGENT_MAP: expected name=agent_id pairs separated by "
        "commas, got 'weather'"]
    assert recorder.requests == []


def test_a_finished_run_is_reported_promptly_while_the_app_keeps_running(recorder, tmp_path):
    # The SDK's default batch processor waits 5 s; a crash in that window would lose the run.
    app = subprocess.Popen([str(INSTRUMENT), sys.executable, str(APP), "4.5"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=app_env(recorder, tmp_path))
    try:
        ids = json.loads(app.stdout.readline())
        run_ended = time.monotonic()
        while time.monotonic() - run_ended < 2.0 and not reports(recorder):
            time.sleep(0.02)
        arrived_after = time.monotonic() - run_ended
        assert app.poll() is None  # still running: the report did not wait for the exit
        [body] = reports(recorder)
        assert body["id"] == task_id_for(ids["trace_id"], ids["span_id"])
        assert arrived_after < 2.0
    finally:
        app.kill()
        app.communicate(timeout=30)


def reports(recorder) -> list[dict]:
    return [r.json() for r in recorder.requests if r.path.endswith("/report_task")]


def test_configure_under_opentelemetry_instrument_reports_each_run_once(recorder, tmp_path):
    script = HERE / "scripts" / "configure_under_instrument.py"
    done = subprocess.run([str(INSTRUMENT), sys.executable, str(script)], capture_output=True, text=True,
                          env=app_env(recorder, tmp_path), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
    assert [r.path for r in recorder.requests] == ["/agent-execution/agent-zero/report_task"]
