"""get_args for Agno: agno.agent.Agent(**args) runs against the scripted LLM with the resolved key."""

from __future__ import annotations

import asyncio

import pytest
from agno.agent import Agent
from agno.models.openai import OpenAIChat, OpenAILike

from _get_args_support import (
    AGENT_ID,
    ANSWER,
    CANONICAL_CASES,
    CUSTOM_KEY,
    MODEL,
    OWN_ENDPOINT_CASES,
    QUESTION,
    TASK_ID,
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
from xpander_otel.errors import FrameworkNotInstalled


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    isolate_env(monkeypatch)


def test_agno_agent_from_get_args_calls_the_tool_and_answers(recorder, llm):
    backend = serve_agent(recorder, agent_body("agno", llm.base_url))
    weather = WeatherTool()

    args = backend.get_args(agent_id=AGENT_ID, tools=[weather.function])
    output = Agent(**args).run(QUESTION)

    assert output.content == ANSWER
    assert weather.calls == ["Paris"]
    assert_xpander_requests(recorder)
    assert_llm_requests(llm, key=CUSTOM_KEY)
    assert (output.metrics.input_tokens, output.metrics.output_tokens) == (130, 22)


def test_agno_streamed_run_reports_tokens(recorder, llm):
    backend = serve_agent(recorder, agent_body("agno", llm.base_url))
    weather = WeatherTool()
    agent = Agent(**backend.get_args(agent_id=AGENT_ID, tools=[weather.function]))

    # The run's totals arrive with the RunCompleted event (stream_events in agno 3, the older name in 2).
    events = list(agent.run(QUESTION, stream=True, stream_events=True, stream_intermediate_steps=True))

    [completed] = [e for e in events if e.event == "RunCompleted"]
    assert completed.content == ANSWER
    assert weather.calls == ["Paris"]
    assert [r["stream"] for r in llm.llm.requests] == [True, True]
    metrics = completed.metrics
    assert (metrics.input_tokens, metrics.output_tokens, metrics.total_tokens) == (130, 22, 152)


def test_agno_args_carry_config_task_and_ids(recorder, llm):
    backend = serve_agent(recorder, agent_body("agno", llm.base_url, expected_output="One sentence."))
    weather = WeatherTool()

    args = backend.get_args(agent_id=AGENT_ID, task=task(), tools=[weather.function])

    assert args["id"] == AGENT_ID
    assert args["name"] == "Weather Reporter"
    assert args["description"] == "Reports the weather"
    assert args["instructions"] == ("You report the weather.\nAnswer in one sentence.\nUse the weather tool.\n"
                                    "Mention the city.")
    assert args["expected_output"] == "One sentence."
    assert args["additional_context"] == "The user is in France."
    assert args["tools"] == [weather.function]
    assert args["metadata"] == {task_context.METADATA_AGENT_ID: AGENT_ID, task_context.METADATA_TASK_ID: TASK_ID}
    assert task_context.agent_id_for("Weather Reporter") == AGENT_ID
    # What the instrumentation puts on the agent span, read from the built agent's metadata.
    assert task_context.xpander_attributes("Another Name", Agent(**args).metadata) == {
        "xpander.agent.id": AGENT_ID, "xpander.task.id": TASK_ID}
    model = args["model"]
    assert type(model) is OpenAIChat
    assert (model.id, model.api_key, model.base_url) == (MODEL, CUSTOM_KEY, llm.base_url)
    assert model.default_headers == {"x-org-llm-header": "org-default"}
    assert_no_secret(repr(args))
    assert_no_secret(str(Agent(**args).model))


def test_agno_override_wins_and_output_schema_flows(recorder, llm):
    schema = {"type": "object", "properties": {"forecast": {"type": "string"}}, "required": ["forecast"]}
    backend = serve_agent(recorder, agent_body("agno", llm.base_url, output_format="json", output_schema=schema))

    args = backend.get_args(agent_id=AGENT_ID, override={"name": "Mine", "markdown": True})

    agent = Agent(**args)
    assert agent.output_schema == schema
    assert (agent.name, agent.markdown) == ("Mine", True)
    assert task_context.agent_id_for("Mine") == AGENT_ID


def test_agno_without_task_has_no_task_id(recorder, llm):
    backend = serve_agent(recorder, agent_body("agno", llm.base_url, model_provider="fireworks"))

    args = backend.get_args(agent_id=AGENT_ID)

    assert args["metadata"] == {task_context.METADATA_AGENT_ID: AGENT_ID}
    assert type(args["model"]) is OpenAILike  # an OpenAI-compatible provider behind its own endpoint


@pytest.mark.parametrize(("custom", "compatible_env", "expected"), OWN_ENDPOINT_CASES)
def test_agno_own_endpoint_gets_only_its_own_key(recorder, llm, monkeypatch, custom, compatible_env, expected):
    body = agent_body("agno", llm.base_url)
    set_own_endpoint_case(monkeypatch, body, custom, compatible_env)
    backend = serve_agent(recorder, body)
    weather = WeatherTool()

    output = Agent(**backend.get_args(agent_id=AGENT_ID, tools=[weather.function])).run(QUESTION)

    assert output.content == ANSWER
    assert_llm_requests(llm, key=expected)


@pytest.mark.parametrize(("cloud", "custom", "env", "expected"), CANONICAL_CASES)
def test_agno_canonical_host_key(recorder, monkeypatch, cloud, custom, env, expected):
    body = agent_body("agno", None)
    canonical_case(monkeypatch, body, cloud, custom, env)

    model = serve_agent(recorder, body).get_args(agent_id=AGENT_ID)["model"]

    assert type(model) is OpenAIChat
    assert (model.id, model.api_key, model.base_url) == (MODEL, expected, None)


def test_agno_aget_args_with_a_version_runs_async(recorder, llm):
    backend = serve_agent(recorder, agent_body("agno", llm.base_url))
    weather = WeatherTool()

    async def run():
        args = await backend.aget_args(agent_id=AGENT_ID, agent_version=3, tools=[weather.function])
        return await Agent(**args).arun(QUESTION)

    output = asyncio.run(run())

    assert output.content == ANSWER
    assert weather.calls == ["Paris"]
    assert recorder.requests[0].path == f"/agents/{AGENT_ID}"
    assert recorder.requests[0].headers["x-agent-version"] == "3"
    assert "x-agent-version" not in recorder.requests[1].headers
    assert_llm_requests(llm, key=CUSTOM_KEY)


@pytest.mark.parametrize(("provider", "install"), [
    ("anthropic", 'pip install "agno[anthropic]"'),
    ("gemini", 'pip install "agno[google]"'),
])
def test_agno_native_provider_without_its_package_names_it(recorder, provider, install):
    backend = serve_agent(recorder, agent_body("agno", None, model_provider=provider))

    with pytest.raises(FrameworkNotInstalled) as caught:
        backend.get_args(agent_id=AGENT_ID)

    assert install in str(caught.value)
