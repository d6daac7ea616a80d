"""The optional API key, the agents file, and the ``serve``/``demo``/``tasks`` commands as a user runs them."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys

import httpx
import pytest

from _devserver import DevServerProcess
from _servers import free_port
from xpander_otel import ModuleException, Tokens, cli
from xpander_otel.devserver.agents import AgentsFileError
from xpander_otel.devserver.app import ServerSettings, create_app

KEY = "dev-server-key-123"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    with DevServerProcess(tmp_path_factory.mktemp("keyed") / "tasks.sqlite3", "--api-key", KEY) as server:
        yield server


def test_api_key_is_required_and_checked(keyed_server):
    url = f"{keyed_server.url}/agents/weather-agent"
    missing = httpx.get(url)
    assert (missing.status_code, missing.json()) == (401, {
        "detail": "an API key is required: send it in the x-api-key header (the server was started with --api-key)"})
    wrong = httpx.get(url, headers={"x-api-key": "wrong"})
    assert (wrong.status_code, wrong.json()["detail"].split(":")[0]) == (401, "the API key is wrong")
    assert httpx.get(url, headers={"x-api-key": KEY}).json()["id"] == "weather-agent"

    with pytest.raises(ModuleException) as raised:
        keyed_server.backend().report_external_task(agent_id="weather-agent", result="x")
    assert raised.value.status_code == 401
    task = keyed_server.backend(api_key=KEY).report_external_task(agent_id="weather-agent", id="keyed-1", result="ok")
    assert task.result == "ok"


def test_with_a_key_pages_take_basic_auth_and_health_and_llm_stay_open(keyed_server):
    assert httpx.get(f"{keyed_server.url}/").headers["www-authenticate"] == 'Basic realm="xpander-otel dev server"'
    basic = "Basic " + base64.b64encode(f"me:{KEY}".encode()).decode()
    assert httpx.get(f"{keyed_server.url}/", headers={"authorization": basic}).status_code == 200
    assert httpx.get(f"{keyed_server.url}/healthz").status_code == 200
    answer = httpx.post(f"{keyed_server.url}/v1/chat/completions",
                        json={"model": "scripted-answer", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.json()["usage"]["total_tokens"] == 28


def test_serve_loads_a_json_agents_file(tmp_path):
    agents_file = tmp_path / "agents.json"
    agents_file.write_text(json.dumps([{"id": "json-agent", "name": "JSON Agent", "model_name": "gpt-5",
                                        "framework": "langchain", "llm_api_base": "{server_url}/v1"}]))
    with DevServerProcess(tmp_path / "tasks.sqlite3", "--agents", str(agents_file)) as server:
        listed = httpx.get(f"{server.url}/agents/list").json()
        assert [(a["id"], a["name"], a["model_name"], a["framework"]) for a in listed] == [
            ("json-agent", "JSON Agent", "gpt-5", "langchain")]
        agent = httpx.get(f"{server.url}/agents/json-agent").json()
        assert (agent["unique_name"], agent["llm_api_base"]) == ("json-agent", f"{server.url}/v1")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("agents: [{name: No Id}]", "agents.yaml: agent #1 (No Id) needs an 'id'"),
        ("agents: [{id: x, name: ''}]", "agents.yaml: agent #1 is invalid: name: String should have at least 1 character"),
        ("agents: {a: 1}", "agents.yaml must hold a list of agents (or a mapping with an 'agents' list)"),
        ("agents: [", "agents.yaml is not valid YAML"),
    ],
)
def test_a_bad_agents_file_is_refused_with_a_clear_message(tmp_path, content, message):
    agents_file = tmp_path / "agents.yaml"
    agents_file.write_text(content)
    with pytest.raises(AgentsFileError) as raised:
        create_app(ServerSettings(db_path=tmp_path / "t.sqlite3", agents_file=agents_file))
    assert str(raised.value).startswith(f"{tmp_path}/{message}")


def test_serve_exits_with_2_and_the_message_on_a_bad_agents_file(tmp_path):
    agents_file = tmp_path / "agents.yaml"
    agents_file.write_text("agents: [{name: No Id}]")
    done = _cli("serve", "--port", str(free_port()), "--db", str(tmp_path / "t.sqlite3"), "--agents", str(agents_file))
    assert done.returncode == 2
    assert done.stderr == f"xpander-otel serve: {agents_file}: agent #1 (No Id) needs an 'id'\n"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xpander_otel.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_demo_reports_the_example_agent_then_serves_until_ctrl_c(tmp_path):
    db = tmp_path / "demo.sqlite3"
    port = free_port()
    # SIGINT as a terminal sends it; the default disposition, in case this test runs where it is ignored.
    demo = subprocess.Popen([sys.executable, "-m", "xpander_otel.cli", "demo", "--port", str(port), "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = []
        for line in demo.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Serving until Ctrl-C"):
                break
        assert lines[0] == f"Started the dev server at http://127.0.0.1:{port} (database: {db})", demo.stderr
        # This environment has no Agno: the demo says so and reports a plain tool loop by hand.
        assert lines.pop(1) == ('Agno is not installed: running a plain tool loop reported by hand '
                                '(pip install "xpander-otel[server,agno]" for the instrumented run).')
        assert lines[1] == f"Agent 'Weather Agent' (weather-agent) on model scripted-weather at http://127.0.0.1:{port}/v1"
        task_id = lines[3].split()[1]
        assert lines[3] == f"Task {task_id}  [completed]"
        assert lines[4:8] == [
            "  input:    What is the weather in Paris right now?",
            "  result:   It is sunny in Paris, 22 degrees.",
            "  tokens:   130 prompt + 22 completion = 152",
            "  tools:    get_weather",
        ]
        assert lines[8].startswith("  duration: ")
        url = f"http://127.0.0.1:{port}"
        assert lines[10:] == [f"Open {url}/tasks/{task_id}/view  (all tasks: {url}/)", "Serving until Ctrl-C ..."]

        # Still serving: the reported task, exactly, and its page.
        task = httpx.get(f"{url}/tasks/{task_id}").json()
        assert (task["agent_id"], task["status"], task["input"]["text"], task["result"], task["used_tools"]) == (
            "weather-agent", "completed", "What is the weather in Paris right now?",
            "It is sunny in Paris, 22 degrees.", ["get_weather"])
        assert task["tokens"]["total_tokens"] == 152
        assert task["llm_response"] == {
            "model": "scripted-weather", "content": "It is sunny in Paris, 22 degrees.", "finish_reason": "stop",
            "usage": {"prompt_tokens": 80, "completion_tokens": 12, "total_tokens": 92,
                      "prompt_tokens_details": {"cached_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0}}}
        assert "It is sunny in Paris, 22 degrees." in httpx.get(f"{url}/tasks/{task_id}/view").text

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=20) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz")


def test_demo_uses_a_dev_server_already_running_on_its_port(devserver, capsys):
    assert cli.main(["demo", "--exit", "--port", str(devserver.port)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Using the dev server already running at {devserver.url}"
    task_id = lines[4].split()[1]  # after the "Agno is not installed" line
    assert httpx.get(f"{devserver.url}/tasks/{task_id}").json()["result"] == "It is sunny in Paris, 22 degrees."


def test_tasks_command_prints_a_table_of_recent_tasks(devserver, capsys):
    agent = devserver.create_agent("Table Agent")
    backend = devserver.backend()
    for n in range(3):
        backend.report_external_task(agent_id=agent["id"], id=f"tbl-{agent['id']}-{n}", result=f"answer {n}",
                                     tokens=Tokens(prompt_tokens=100, completion_tokens=n), duration=1.5,
                                     used_tools=["search"], is_success=n != 1)

    assert cli.main(["tasks", "--server", devserver.url, "--agent", agent["id"], "--limit", "2"]) == 0
    header, *rows, footer = capsys.readouterr().out.splitlines()
    assert header.split() == ["TIME", "(UTC)", "AGENT", "STATUS", "TOKENS", "TOOLS", "DURATION", "RESULT", "ID"]
    assert [row.split()[2:] for row in rows] == [
        [agent["id"], "completed", "102", "search", "1.50s", "answer", "2", f"tbl-{agent['id']}-2"],
        [agent["id"], "failed", "101", "search", "1.50s", "answer", "1", f"tbl-{agent['id']}-1"],
    ]
    assert footer == "2 of 3 task(s)"


def test_tasks_command_says_when_the_server_is_not_there(capsys):
    assert cli.main(["tasks", "--server", f"http://127.0.0.1:{free_port()}"]) == 1
    stderr = capsys.readouterr().err
    assert "cannot reach http://127.0.0.1:" in stderr
    assert "is `xpander-otel serve` running?" in stderr
