"""Node.js's @opentelemetry/exporter-trace-otlp-http (OTLP/HTTP JSON, installed from npm by this test's
setup into tests/node) -> a bridge process -> the expected task reports."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from _bridge_support import API_KEY, BridgeProcess, wait_for_reports
from _exporter_support import expected_weather_body

from xpander_otel.exporter.assembler import task_id_for

NODE_PROJECT = Path(__file__).resolve().parents[1] / "node"
TOKEN = "node-bridge-token"


@pytest.fixture(scope="session")
def node_project() -> Path:
    """tests/node with its npm packages installed (``npm ci`` from the committed lockfile)."""
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "node and npm are required for the Node client test"
    lockfile = NODE_PROJECT / "package-lock.json"
    installed = NODE_PROJECT / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lockfile.stat().st_mtime:
        command = "ci" if lockfile.exists() else "install"
        subprocess.run([npm, command, "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_PROJECT,
                       check=True, timeout=600)
    return NODE_PROJECT


@pytest.fixture
def bridge(recorder, tmp_path):
    process = BridgeProcess(recorder.url, tmp_path / "spool.sqlite3", "--grace-seconds", "0.3",
                            "--auth-token", TOKEN).ready()
    yield process
    assert process.stop() == 0


def run_node_agent(project: Path, bridge_url: str, *, fail: bool = False) -> dict:
    done = subprocess.run(["node", "send_agent_trace.mjs"], cwd=project, capture_output=True, text=True, timeout=60,
                          env={"PATH": str(Path(shutil.which("node")).parent), "BRIDGE_URL": bridge_url,
                               "BRIDGE_TOKEN": TOKEN, "AGENT_FAILS": "1" if fail else "0"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_node_otlp_http_exporter_run_becomes_the_expected_task(node_project, bridge, recorder):
    root = run_node_agent(node_project, bridge.http)
    trace_id, span_id = int(root["traceId"], 16), int(root["spanId"], 16)
    duration = (int(root["endNs"]) - int(root["startNs"])) / 1e9
    got = wait_for_reports(recorder, 1, settle=1.0)
    assert [r.path for r in got] == ["/agent-execution/agent-123/report_task"]
    assert got[0].headers["x-api-key"] == API_KEY
    assert got[0].json() == expected_weather_body(task_id_for(trace_id, span_id), root["traceId"], duration,
                                                  question="Weather in Paris? (from Node)")
    assert bridge.metrics()["xpander_bridge_spans_received_total"] == 4


def test_node_failed_run_is_reported_as_failed_with_its_error(node_project, bridge, recorder):
    root = run_node_agent(node_project, bridge.http, fail=True)
    body = wait_for_reports(recorder, 1, settle=0.5)[0].json()
    assert body["id"] == task_id_for(int(root["traceId"], 16), int(root["spanId"], 16))
    assert (body["is_success"], body["result"]) == (False, "Error: model unavailable")
    assert body["tokens"]["total_tokens"] == 152 and body["used_tools"] == ["get_weather"]
