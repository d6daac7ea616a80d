"""``xpander-otel doctor`` as a user runs it: a real process against a dev server process or a closed port."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from _devserver import DevServerProcess
from _servers import free_port
from xpander_otel.exporter.spool import Spool

API_KEY = "xpk-doctor-secret-0123456789"


def doctor(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("XPANDER_", "OTEL_", "IS_XPANDER"))}
    clean["XPANDER_OTEL_SPOOL"] = str(tmp_path / "spool" / "spool.sqlite3")
    clean.update(env)
    return subprocess.run([sys.executable, "-m", "xpander_otel.cli", "doctor", "--timeout", "5"],
                          capture_output=True, text=True, env=clean, timeout=60)


def lines_of(done: subprocess.CompletedProcess, name: str) -> list[str]:
    """The lines of one check: its status line and the indented lines under it."""
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("[") and f"] {name}:" in line)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("       ")), len(lines))
    return lines[start:end]


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    """A dev server process that requires ``API_KEY``."""
    with DevServerProcess(tmp_path_factory.mktemp("doctor") / "tasks.sqlite3", "--api-key", API_KEY) as server:
        yield server


def test_every_check_passes_against_a_dev_server_with_its_key_and_a_known_agent(keyed_server, tmp_path):
    server = keyed_server
    agent = server.create_agent("Doctor Agent", api_key=API_KEY)
    done = doctor(tmp_path, XPANDER_BASE_URL=server.url, XPANDER_API_KEY=API_KEY, XPANDER_AGENT_ID=agent["id"])
    assert lines_of(done, "configuration") == [
        f"[ok  ] configuration: API {server.url}, API key set, agent {agent['id']}",
        "       XPANDER_API_KEY = set (value hidden)",
        f"       XPANDER_BASE_URL = {server.url}",
        f"       XPANDER_AGENT_ID = {agent['id']}",
        f"       XPANDER_OTEL_SPOOL = {tmp_path / 'spool' / 'spool.sqlite3'}",
    ]
    assert lines_of(done, "xpander API") == [
        f"[ok  ] xpander API: {server.url} reachable, API key accepted",
        f"       agent {agent['id']}: Doctor Agent",
    ]
    # The core environment has no framework: every instrumentor loads and says what it needs.
    instrumentors = lines_of(done, "frameworks and instrumentors")
    assert instrumentors[0] == "[warn] frameworks and instrumentors: 0 of 8 instrumentors active: none"
    assert instrumentors[1:] == [
        "       xpander_agno: skipped, needs agno >= 3.0",
        "       xpander_crewai: skipped, needs crewai >= 1.15.30",
        "       xpander_google_adk: skipped, needs google-adk >= 2.13, < 3",
        "       xpander_langchain: skipped, needs langchain-core >= 1.0, < 2",
        "       xpander_openai_agents: skipped, needs openai-agents >= 0.24",
        "       xpander_pydantic_ai: skipped, needs pydantic-ai-slim >= 2.50",
        "       xpander_smolagents: skipped, needs smolagents >= 1.20",
        "       xpander_strands: skipped, needs strands-agents >= 1.55, < 2",
        "       -> no supported framework is installed: pip install \"xpander-otel[agno]\" (or openai-agents, "
        "langchain, strands, google-adk, crewai, pydantic-ai, smolagents)",
    ]
    assert lines_of(done, "spool") == [
        f"[ok  ] spool: {tmp_path / 'spool' / 'spool.sqlite3'}: no reports yet (the file is created on first use)"]
    assert done.stdout.endswith("\nall checks passed\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert API_KEY not in done.stdout + done.stderr


def test_a_wrong_key_is_refused_and_the_advice_names_the_variable(keyed_server, tmp_path):
    server = keyed_server
    done = doctor(tmp_path, XPANDER_BASE_URL=server.url, XPANDER_API_KEY="xpk-wrong-key-000", XPANDER_AGENT_ID="a")
    assert lines_of(done, "xpander API") == [
        f"[FAIL] xpander API: {server.url} refused the API key (HTTP 401)",
        "       -> set XPANDER_API_KEY to a valid key of this organization (and XPANDER_ORGANIZATION_ID on an "
        "agent-controller URL)",
    ]
    assert done.stdout.endswith("\n1 check(s) failed: xpander API\n")
    assert done.returncode == 1
    assert "xpk-wrong-key-000" not in done.stdout + done.stderr


def test_an_unknown_agent_fails_the_api_check(devserver, tmp_path):
    server = devserver
    done = doctor(tmp_path, XPANDER_BASE_URL=server.url, XPANDER_AGENT_ID="no-such-agent")
    assert lines_of(done, "xpander API") == [
        f"[FAIL] xpander API: {server.url} reachable, API key accepted",
        "       -> agent no-such-agent was not found (HTTP 404): check XPANDER_AGENT_ID",
    ]
    assert done.returncode == 1


def test_a_closed_port_fails_with_advice_to_start_the_dev_server(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    done = doctor(tmp_path, XPANDER_BASE_URL=url, XPANDER_AGENT_ID="a")
    assert lines_of(done, "xpander API") == [
        f"[FAIL] xpander API: cannot reach {url} (ConnectError)",
        "       -> check XPANDER_BASE_URL and your network; for the local dev server run `xpander-otel serve` "
        "(it listens on http://127.0.0.1:8765)",
    ]
    assert done.returncode == 1


def test_configuration_problems_fail_with_the_variable_named(tmp_path):
    done = doctor(tmp_path, XPANDER_BASE_URL=f"http://127.0.0.1:{free_port()}", XPANDER_OTEL_AGENT_MAP="weather")
    assert lines_of(done, "configuration")[-2:] == [
        "       -> the exporter settings are not valid: XPANDER_OTEL_AGENT_MAP: expected name=agent_id pairs "
        "separated by commas, got 'weather'",
        "       -> runs that carry no xpander agent id are dropped: set XPANDER_AGENT_ID, XPANDER_OTEL_AGENT_MAP, "
        "or build agents with Backend().get_args(...)",
    ]
    assert lines_of(done, "spool")[0] == "[FAIL] spool: skipped: fix the exporter settings first"
    remote = doctor(tmp_path, XPANDER_BASE_URL="https://api.example.invalid", XPANDER_AGENT_ID="a")
    assert lines_of(remote, "configuration")[0].startswith("[FAIL] configuration: API https://api.example.invalid,")
    assert "-> set XPANDER_API_KEY to your xpander API key" in "\n".join(lines_of(remote, "configuration"))
    assert remote.returncode == 1


def test_reports_waiting_in_the_spool_are_counted(tmp_path):
    spool_path = tmp_path / "spool" / "spool.sqlite3"
    spool = Spool(spool_path)
    spool.put([("agent-1/task-1", "agent-1", "{}"), ("agent-1/task-2", "agent-1", "{}")])
    spool.close()
    done = doctor(tmp_path, XPANDER_BASE_URL=f"http://127.0.0.1:{free_port()}", XPANDER_AGENT_ID="a")
    assert lines_of(done, "spool") == [
        f"[warn] spool: {spool_path}: 2 report(s) waiting for delivery",
        "       -> waiting reports are sent by the next process that runs the exporter with this spool; if they "
        "stay, look at the xpander API check above",
    ]
    memory = doctor(tmp_path, XPANDER_BASE_URL=f"http://127.0.0.1:{free_port()}", XPANDER_OTEL_SPOOL=":memory:")
    assert lines_of(memory, "spool")[0] == (
        "[warn] spool: in memory: reports not yet delivered are lost if the process dies")


def test_an_instrumentor_whose_framework_is_out_of_range_names_the_version_found(monkeypatch):
    from opentelemetry.instrumentation.dependencies import DependencyConflict

    from xpander_otel import doctor as doctor_module

    class OutOfRange:
        def instrumentation_dependencies(self):
            return ("agno >= 3.0",)

        def _check_dependency_conflicts(self):
            return DependencyConflict("agno >= 3.0", "agno 2.1.0")

    class NotInstalled(OutOfRange):
        def _check_dependency_conflicts(self):
            return DependencyConflict("agno >= 3.0")

    class Point:
        def __init__(self, name, cls):
            self.name, self.load = name, lambda: cls

    monkeypatch.setattr(doctor_module, "entry_points", lambda group: [Point("xpander_agno", OutOfRange),
                                                                      Point("xpander_other", NotInstalled)])
    check = doctor_module.check_instrumentors()
    assert check.details == ["xpander_agno: skipped, needs agno >= 3.0 (found agno 2.1.0)",
                             "xpander_other: skipped, needs agno >= 3.0"]
