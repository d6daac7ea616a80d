"""End to end: an instrumented crew run becomes exactly one task on the real dev server, whichever
kickoff starts it (a streaming kickoff re-enters itself in a thread; kickoff_async is kickoff in a thread)."""

from __future__ import annotations

import asyncio

import pytest
from test_crewai_instrumentation import QUESTION, make_crew

import xpander_otel
from _report_support import expected_task_id, reporting
from xpander_otel.devserver.scripted_llm import FINAL_ANSWER
from xpander_otel.instrumentation.crewai import CrewAIInstrumentor

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def kickoff(crew):
    return crew.kickoff().raw


def kickoff_streaming(crew):
    streaming = crew.kickoff()
    for _ in streaming:
        pass
    return streaming.result.raw


def kickoff_async(crew):
    return asyncio.run(crew.kickoff_async()).raw


@pytest.mark.parametrize(("run", "stream"), [(kickoff, False), (kickoff_streaming, True), (kickoff_async, False)])
def test_crew_run_is_one_task_on_the_dev_server(devserver, llm, tmp_path, run, stream):
    agent = devserver.create_agent(f"crewai-{run.__name__}")

    with reporting(devserver, tmp_path, CrewAIInstrumentor) as reported, xpander_otel.task(agent_id=agent["id"]):
        assert run(make_crew(llm, stream=stream)) == FINAL_ANSWER

    [root] = reported.spans("invoke_workflow crew")
    [task] = reported.tasks(agent["id"])
    assert task["id"] == expected_task_id(root)
    assert task["status"] == "completed"
    assert task["input"]["text"] == QUESTION
    assert task["result"] == FINAL_ANSWER
    assert (task["tokens"]["prompt_tokens"], task["tokens"]["completion_tokens"]) == (130, 22)
    assert task["tokens"]["total_tokens"] == 152
    assert task["used_tools"] == ["get_weather"]
    assert task["llm_response"]["trace_id"] == format(root.context.trace_id, "032x")
