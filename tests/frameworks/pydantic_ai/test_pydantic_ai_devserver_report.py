"""End to end: an instrumented Pydantic AI run (its own spans, our attributes) becomes exactly one task
on the real dev server, with the tokens of its chat spans counted once."""

from __future__ import annotations

import asyncio

import pytest
from test_pydantic_ai_instrumentation import QUESTION, make_agent

import xpander_otel
from _report_support import expected_task_id, reporting
from xpander_otel.devserver.scripted_llm import FINAL_ANSWER
from xpander_otel.instrumentation.pydantic_ai import PydanticAIInstrumentor


def run_sync(agent):
    return agent.run_sync(QUESTION).output


def run_stream(agent):
    async def main():
        async with agent.run_stream(QUESTION) as stream:
            return await stream.get_output()

    return asyncio.run(main())


@pytest.mark.parametrize("run", [run_sync, run_stream])
def test_agent_run_is_one_task_on_the_dev_server(devserver, llm, tmp_path, run):
    agent = devserver.create_agent(f"pydantic-ai-{run.__name__}")

    with reporting(devserver, tmp_path, PydanticAIInstrumentor) as reported, xpander_otel.task(agent_id=agent["id"]):
        assert run(make_agent(llm)) == FINAL_ANSWER

    [root] = reported.spans("invoke_agent weather_agent")
    [task] = reported.tasks(agent["id"])
    assert task["id"] == expected_task_id(root)
    assert task["status"] == "completed"
    assert task["input"]["text"] == QUESTION
    assert task["result"] == FINAL_ANSWER
    assert (task["tokens"]["prompt_tokens"], task["tokens"]["completion_tokens"]) == (130, 22)
    assert task["used_tools"] == ["get_weather"]
