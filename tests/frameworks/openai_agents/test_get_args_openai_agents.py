"""get_args for the OpenAI Agents SDK: agents.Agent(**args) runs against the scripted LLM."""

from __future__ import annotations

import asyncio

import pytest
from agents import Agent, FunctionTool, OpenAIChatCompletionsModel, RunConfig, Runner
from openai import AsyncOpenAI

from _get_args_support import (
    AGENT_ID,
    ANSWER,
    CANONICAL_CASES,
    CUSTOM_KEY,
    MODEL,
    OWN_ENDPOINT_CASES,
    QUESTION,
    WeatherTool,
    agent_body,
    assert_llm_requests,
    assert_no_secret,
    assert_xpander_requests,
    canonical_case,
    isolate_env,
    serve_agent,
    set_own_endpoint_case,
    task,
)
from xpander_otel import task_context

NO_TRACING = RunConfig(tracing_disabled=True)  # the SDK's own trace export would go to api.openai.com


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    isolate_env(monkeypatch)


def test_openai_agent_from_get_args_calls_the_tool_and_answers(recorder, llm):
    backend = serve_agent(recorder, agent_body("open-ai-agents", llm.base_url))
    weather = WeatherTool()

    agent = Agent(**backend.get_args(agent_id=AGENT_ID, tools=[weather.function]))
    result = asyncio.run(Runner.run(agent, QUESTION, run_config=NO_TRACING))

    assert result.final_output == ANSWER
    assert weather.calls == ["Paris"]
    assert_xpander_requests(recorder)
    assert_llm_requests(llm, key=CUSTOM_KEY)
    usage = result.context_wrapper.usage
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (2, 130, 22)


def test_openai_agent_streamed_run_reports_tokens(recorder, llm):
    backend = serve_agent(recorder, agent_body("open-ai-agents", llm.base_url))
    weather = WeatherTool()
    agent = Agent(**backend.get_args(agent_id=AGENT_ID, tools=[weather.function]))

    async def run():
        result = Runner.run_streamed(agent, QUESTION, run_config=NO_TRACING)
        async for _ in result.stream_events():
            pass
        return result

    result = asyncio.run(run())

    assert result.final_output == ANSWER
    assert weather.calls == ["Paris"]
    assert [r["stream"] for r in llm.llm.requests] == [True, True]
    usage = result.context_wrapper.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (130, 22, 152)


def test_openai_agent_args_carry_config_task_and_ids(recorder, llm):
    backend = serve_agent(recorder, agent_body("open-ai-agents", llm.base_url))
    weather = WeatherTool()

    args = backend.get_args(agent_id=AGENT_ID, task=task(), tools=[weather.function])

    assert sorted(args) == ["instructions", "model", "model_settings", "name", "tools"]
    assert args["name"] == "Weather Reporter"
    assert args["instructions"] == ("You report the weather.\nAnswer in one sentence.\nUse the weather tool.\n"
                                    "Mention the city.\n\nThe user is in France.")
    assert args["model_settings"].include_usage is True
    [tool] = args["tools"]
    assert isinstance(tool, FunctionTool) and tool.name == "get_weather"
    model = args["model"]
    assert isinstance(model, OpenAIChatCompletionsModel) and model.model == MODEL
    assert isinstance(model._client, AsyncOpenAI)
    assert (model._client.api_key, str(model._client.base_url)) == (CUSTOM_KEY, f"{llm.base_url}/")
    assert task_context.agent_id_for("Weather Reporter") == AGENT_ID
    assert task_context.xpander_attributes(Agent(**args).name) == {"xpander.agent.id": AGENT_ID}
    assert_no_secret(repr(args))


def test_openai_agent_output_schema_and_override(recorder, llm):
    schema = {"type": "object", "properties": {"forecast": {"type": "string"}}, "required": ["forecast"]}
    backend = serve_agent(recorder, agent_body("open-ai-agents", llm.base_url, output_format="json",
                                               output_schema=schema))

    args = backend.get_args(agent_id=AGENT_ID, override={"name": "Forecaster"})
    agent = Agent(**args)

    assert agent.name == "Forecaster"
    assert task_context.agent_id_for("Forecaster") == AGENT_ID
    assert agent.output_type.json_schema() == schema
    assert agent.output_type.validate_json('{"forecast": "sunny"}') == {"forecast": "sunny"}


@pytest.mark.parametrize(("custom", "compatible_env", "expected"), OWN_ENDPOINT_CASES)
def test_openai_agent_own_endpoint_gets_only_its_own_key(recorder, llm, monkeypatch, custom, compatible_env,
                                                          expected):
    body = agent_body("open-ai-agents", llm.base_url)
    set_own_endpoint_case(monkeypatch, body, custom, compatible_env)
    weather = WeatherTool()
    agent = Agent(**serve_agent(recorder, body).get_args(agent_id=AGENT_ID, tools=[weather.function]))

    result = asyncio.run(Runner.run(agent, QUESTION, run_config=NO_TRACING))

    assert result.final_output == ANSWER
    assert_llm_requests(llm, key=expected)


@pytest.mark.parametrize(("cloud", "custom", "env", "expected"), CANONICAL_CASES)
def test_openai_agent_canonical_host_key(recorder, monkeypatch, cloud, custom, env, expected):
    body = agent_body("open-ai-agents", None)
    canonical_case(monkeypatch, body, cloud, custom, env)

    client = serve_agent(recorder, body).get_args(agent_id=AGENT_ID)["model"]._client

    assert (client.api_key, str(client.base_url)) == (expected, "https://api.openai.com/v1/")
