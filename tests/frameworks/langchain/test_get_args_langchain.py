"""get_args for LangChain/LangGraph: create_agent(**args) runs against the scripted LLM."""

from __future__ import annotations

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI

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


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    isolate_env(monkeypatch)


def _usage(messages) -> tuple[int, int]:
    ai = [m for m in messages if isinstance(m, AIMessage)]
    return sum(m.usage_metadata["input_tokens"] for m in ai), sum(m.usage_metadata["output_tokens"] for m in ai)


@pytest.mark.parametrize("framework", ["langchain", "langgraph"])
def test_langchain_agent_from_get_args_calls_the_tool_and_answers(recorder, llm, framework):
    backend = serve_agent(recorder, agent_body(framework, llm.base_url))
    weather = WeatherTool()

    graph = create_agent(**backend.get_args(agent_id=AGENT_ID, tools=[weather.function]))
    state = graph.invoke({"messages": [HumanMessage(QUESTION)]})

    assert state["messages"][-1].content == ANSWER
    assert [m.content for m in state["messages"] if isinstance(m, ToolMessage)] == ["Sunny, 22 degrees in Paris"]
    assert weather.calls == ["Paris"]
    assert_xpander_requests(recorder)
    assert_llm_requests(llm, key=CUSTOM_KEY)
    assert _usage(state["messages"]) == (130, 22)


def test_langchain_streamed_run_reports_tokens(recorder, llm):
    backend = serve_agent(recorder, agent_body("langchain", llm.base_url))
    weather = WeatherTool()
    graph = create_agent(**backend.get_args(agent_id=AGENT_ID, tools=[weather.function]))

    chunks = [chunk for chunk, _ in graph.stream({"messages": [HumanMessage(QUESTION)]}, stream_mode="messages")
              if isinstance(chunk, AIMessage)]

    assert [r["stream"] for r in llm.llm.requests] == [True, True]
    assert "".join(c.content for c in chunks) == ANSWER
    assert weather.calls == ["Paris"]
    assert _usage(c for c in chunks if c.usage_metadata) == (130, 22)


def test_langchain_args_carry_config_task_and_ids(recorder, llm):
    backend = serve_agent(recorder, agent_body("langchain", llm.base_url))
    weather = WeatherTool()

    args = backend.get_args(agent_id=AGENT_ID, task=task(), tools=[weather.function])

    assert sorted(args) == ["model", "name", "system_prompt", "tools"]
    assert args["name"] == "Weather Reporter"
    assert args["system_prompt"] == ("You report the weather.\nAnswer in one sentence.\nUse the weather tool.\n"
                                     "Mention the city.\n\nThe user is in France.")
    assert args["tools"] == [weather.function]
    model = args["model"]
    assert isinstance(model, ChatOpenAI)
    assert (model.model_name, model.openai_api_key.get_secret_value(), model.openai_api_base) == (
        MODEL, CUSTOM_KEY, llm.base_url)
    assert model.stream_usage is True
    assert model.default_headers == {"x-org-llm-header": "org-default"}
    assert task_context.agent_id_for("Weather Reporter") == AGENT_ID
    assert_no_secret(repr(args))


def test_langchain_output_schema_becomes_response_format(recorder, llm):
    schema = {"title": "Forecast", "type": "object", "properties": {"forecast": {"type": "string"}},
              "required": ["forecast"]}
    backend = serve_agent(recorder, agent_body("langchain", llm.base_url, output_format="json",
                                               output_schema=schema))

    args = backend.get_args(agent_id=AGENT_ID, override={"name": "forecaster"})

    assert args["response_format"] == schema
    assert create_agent(**args).name == "forecaster"
    assert task_context.agent_id_for("forecaster") == AGENT_ID


@pytest.mark.parametrize(("custom", "compatible_env", "expected"), OWN_ENDPOINT_CASES)
def test_langchain_own_endpoint_gets_only_its_own_key(recorder, llm, monkeypatch, custom, compatible_env,
                                                       expected):
    body = agent_body("langchain", llm.base_url)
    set_own_endpoint_case(monkeypatch, body, custom, compatible_env)
    weather = WeatherTool()
    graph = create_agent(**serve_agent(recorder, body).get_args(agent_id=AGENT_ID, tools=[weather.function]))

    state = graph.invoke({"messages": [HumanMessage(QUESTION)]})

    assert state["messages"][-1].content == ANSWER
    assert_llm_requests(llm, key=expected)


@pytest.mark.parametrize(("cloud", "custom", "env", "expected"), CANONICAL_CASES)
def test_langchain_canonical_host_key(recorder, monkeypatch, cloud, custom, env, expected):
    body = agent_body("langchain", None)
    canonical_case(monkeypatch, body, cloud, custom, env)

    model = serve_agent(recorder, body).get_args(agent_id=AGENT_ID)["model"]

    assert (model.openai_api_key.get_secret_value(), model.openai_api_base) == (expected, None)
    assert model.root_client.api_key == expected


@pytest.mark.parametrize(("provider", "llm_api_base", "expected_base"), [
    ("anthropic", None, "https://api.anthropic.com/v1/"),
    ("anthropic", "https://api.anthropic.com", "https://api.anthropic.com/v1/"),  # native host: compat base
    ("gemini", None, "https://generativelanguage.googleapis.com/v1beta/openai/"),
    ("fireworks", None, "https://api.fireworks.ai/inference/v1"),
    ("openai", "api.openai.com/v1", "https://api.openai.com/v1"),
    ("anthropic", "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"),  # own endpoint wins
])
def test_langchain_provider_base_urls(recorder, provider, llm_api_base, expected_base):
    body = agent_body("langchain", llm_api_base, model_provider=provider)

    model = serve_agent(recorder, body).get_args(agent_id=AGENT_ID)["model"]

    assert model.openai_api_base == expected_base
