"""get_args for Strands Agents: strands.Agent(**args) runs against the scripted LLM."""

from __future__ import annotations

import pytest
from strands import Agent
from strands.handlers.callback_handler import null_callback_handler
from strands.models.openai import OpenAIModel
from strands.tools.decorator import DecoratedFunctionTool

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

OPENAI_BASE = "https://api.openai.com/v1"


def client_settings(model: OpenAIModel) -> tuple[str, str, dict[str, str]]:
    """Key, base URL and extra headers of the model's OpenAI client (arguments since strands 1.x, a client before)."""
    if hasattr(model, "client_args"):
        args = model.client_args
        return args["api_key"], args.get("base_url", OPENAI_BASE), args.get("default_headers", {})
    client = model.client
    headers = {k: v for k, v in client._custom_headers.items() if k.startswith("x-org")}
    return client.api_key, str(client.base_url).rstrip("/"), headers


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    isolate_env(monkeypatch)


def test_strands_agent_from_get_args_calls_the_tool_and_answers(recorder, llm, capsys):
    backend = serve_agent(recorder, agent_body("strands-agents", llm.base_url))
    weather = WeatherTool()

    agent = Agent(**backend.get_args(agent_id=AGENT_ID, tools=[weather.function]))
    result = agent(QUESTION)

    assert str(result).strip() == ANSWER
    assert weather.calls == ["Paris"]
    assert_xpander_requests(recorder)
    assert_llm_requests(llm, key=CUSTOM_KEY)
    # Strands streams by default: the tokens come from the usage chunk include_usage asks for.
    assert [r["stream"] for r in llm.llm.requests] == [True, True]
    usage = result.metrics.accumulated_usage
    assert (usage["inputTokens"], usage["outputTokens"], usage["totalTokens"]) == (130, 22, 152)
    assert capsys.readouterr().out == ""  # no printing callback handler


def test_strands_args_carry_config_task_and_ids(recorder, llm):
    backend = serve_agent(recorder, agent_body("strands-agents", llm.base_url))
    weather = WeatherTool()

    args = backend.get_args(agent_id=AGENT_ID, task=task(), tools=[weather.function])
    agent = Agent(**args)

    assert args["system_prompt"] == ("You report the weather.\nAnswer in one sentence.\nUse the weather tool.\n"
                                     "Mention the city.\n\nThe user is in France.")
    assert (agent.name, agent.agent_id, agent.description) == ("Weather Reporter", AGENT_ID, "Reports the weather")
    assert agent.trace_attributes == {"xpander.agent.id": AGENT_ID, "xpander.task.id": TASK_ID}
    assert agent.callback_handler is null_callback_handler
    [tool] = args["tools"]
    assert isinstance(tool, DecoratedFunctionTool) and tool.tool_name == "get_weather"
    assert agent.tool_names == ["get_weather"]
    model = args["model"]
    assert isinstance(model, OpenAIModel) and model.get_config()["model_id"] == MODEL
    assert client_settings(model) == (CUSTOM_KEY, llm.base_url, {"x-org-llm-header": "org-default"})
    assert task_context.agent_id_for("Weather Reporter") == AGENT_ID
    assert_no_secret(repr(args))


def test_strands_override_wins(recorder, llm):
    backend = serve_agent(recorder, agent_body("strands-agents", llm.base_url))

    args = backend.get_args(agent_id=AGENT_ID, override={"name": "Strand", "callback_handler": print})

    assert (args["name"], args["callback_handler"]) == ("Strand", print)
    assert args["trace_attributes"] == {"xpander.agent.id": AGENT_ID}
    assert task_context.agent_id_for("Strand") == AGENT_ID


@pytest.mark.parametrize(("custom", "compatible_env", "expected"), OWN_ENDPOINT_CASES)
def test_strands_own_endpoint_gets_only_its_own_key(recorder, llm, monkeypatch, custom, compatible_env,
                                                     expected):
    body = agent_body("strands-agents", llm.base_url)
    set_own_endpoint_case(monkeypatch, body, custom, compatible_env)
    weather = WeatherTool()
    agent = Agent(**serve_agent(recorder, body).get_args(agent_id=AGENT_ID, tools=[weather.function]))

    result = agent(QUESTION)

    assert str(result).strip() == ANSWER
    assert_llm_requests(llm, key=expected)


@pytest.mark.parametrize(("cloud", "custom", "env", "expected"), CANONICAL_CASES)
def test_strands_canonical_host_key(recorder, monkeypatch, cloud, custom, env, expected):
    body = agent_body("strands-agents", None)
    canonical_case(monkeypatch, body, cloud, custom, env)

    model = serve_agent(recorder, body).get_args(agent_id=AGENT_ID)["model"]

    assert client_settings(model) == (expected, OPENAI_BASE, {"x-org-llm-header": "org-default"})
