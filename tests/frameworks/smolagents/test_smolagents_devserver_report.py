"""End to end: an instrumented smolagents run becomes exactly one task on the real dev server; the
built-in final_answer tool is the result, not a used tool."""

from __future__ import annotations

import pytest
from test_smolagents_instrumentation import make_agent

import xpander_otel
from _report_support import expected_task_id, reporting
from xpander_otel.devserver.scripted_llm import FINAL_ANSWER
from xpander_otel.instrumentation.smolagents import SmolagentsInstrumentor

QUESTION = "What is the weather in Paris?"


def run(agent):
    return agent.run(QUESTION)


def run_streaming(agent):
    return list(agent.run(QUESTION, stream=True))[-1].output


@pytest.mark.parametrize("runner", [run, run_streaming])
def test_agent_run_is_one_task_on_the_dev_server(devserver, llm, tmp_path, runner):
    agent = devserver.create_agent(f"smolagents-{runner.__name__}")

    with reporting(devserver, tmp_path, SmolagentsInstrumentor) as reported, xpander_otel.task(agent_id=agent["id"]):
        assert runner(make_agent(llm)) == FINAL_ANSWER

    [root] = reported.spans("invoke_agent weather_agent")
    [task] = reported.tasks(agent["id"])
    assert task["id"] == expected_task_id(root)
    assert task["status"] == "completed"
    assert task["input"]["text"] == QUESTION
    assert task["result"] == FINAL_ANSWER
    assert (task["tokens"]["prompt_tokens"], task["tokens"]["completion_tokens"]) == (130, 22)
    assert task["used_tools"] == ["get_weather"]
