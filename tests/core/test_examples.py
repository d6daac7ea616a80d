"""The usage-mode examples that need no agent framework, run by their own first-line commands."""

from __future__ import annotations

import time

from _bridge_support import BridgeProcess

from _examples import ANSWER, EXAMPLES, assert_weather_task, run_command, run_example, tasks_of, weather_agent

BRIDGE_DEFAULT = "http://127.0.0.1:4318"


def test_the_manual_spans_example_reports_its_own_agent_loop_as_one_task(devserver, tmp_path):
    agent = weather_agent(devserver, "neutral")
    done = run_example(EXAMPLES / "modes" / "manual_spans.py", devserver, agent["id"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ANSWER + "\n"
    [task] = tasks_of(devserver, agent["id"])
    assert_weather_task(task, agent["id"])
    assert task["llm_response"]["model"] == "scripted-weather"


def test_the_collector_example_reaches_the_dev_server_through_the_bridge(devserver, tmp_path):
    assert BRIDGE_DEFAULT in run_command(EXAMPLES / "modes" / "collector_otlp.py")
    agent = weather_agent(devserver, "neutral")
    bridge = BridgeProcess(devserver.url, tmp_path / "bridge-spool.sqlite3", "--grace-seconds", "0.5",
                           env={"XPANDER_AGENT_ID": agent["id"]}).ready()
    try:
        done = run_example(EXAMPLES / "modes" / "collector_otlp.py", devserver, agent["id"], tmp_path,
                           replace={BRIDGE_DEFAULT: bridge.http})
        assert done.returncode == 0, done.stderr
        assert done.stdout == ANSWER + "\n"
        deadline = time.monotonic() + 60
        while not (tasks := tasks_of(devserver, agent["id"])) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        bridge.stop()
    [task] = tasks
    assert_weather_task(task, agent["id"])
