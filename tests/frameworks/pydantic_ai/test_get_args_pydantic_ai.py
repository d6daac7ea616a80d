"""get_args for Pydantic AI: pydantic_ai.Agent(**args) runs against the scripted LLM."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel

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
from xpander_otel import semconv, task_context
from xpander_otel.instrumentation.pydantic_ai import PydanticAIInstrumentor

OPENAI_BASE = "https://api.openai.com/v1"


def client_settings(model: OpenAIChatModel) -> tuple[str, str, dict[str, str]]:
    client = model.client
    headers = {k: v for k, v in client._custom_headers.items() if k.startswith("x-org")}
    return client.api_key, str(client.base_url).rstrip("/"), headers


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    isolate_env(monkeypatch)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def test_pydantic_ai_agent_from_get_args_calls_the_tool_and_answers(recorder, llm):
    backend = serve_agent(recorder, agent_body("pydantic-ai", llm.base_url))
    weather = WeatherTool()

    agent = Agent(**backend.get_args(agent_id=AGENT_ID, tools=[weather.function]))
    result = agent.run_sync(QUESTION)

    assert result.output == ANSWER
    assert weather.calls == ["Paris"]
    assert_xpander_requests(recorder)
    assert_llm_requests(llm, key=CUSTOM_KEY)
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens) == (130, 22)


def test_pydantic_ai_args_carry_config_task_and_ids(recorder, llm):
    backend = serve_agent(recorder, agent_body("pydantic-ai", llm.base_url))
    weather = WeatherTool()

    args = backend.get_args(agent_id=AGENT_ID, task=task(), tools=[weather.function])
    agent = Agent(**args)

    assert args["instructions"] == ("You report the weather.\nAnswer in one sentence.\nUse the weather tool.\n"
                                    "Mention the city.\n\nThe user is in France.")
    assert (agent.name, agent.description) == ("Weather Reporter", "Reports the weather")
    assert args["metadata"] == {task_context.METADATA_AGENT_ID: AGENT_ID, task_context.METADATA_TASK_ID: TASK_ID}
    assert args["tools"] == [weather.function]
    model = args["model"]
    assert isinstance(model, OpenAIChatModel) and model.model_name == MODEL
    assert client_settings(model) == (CUSTOM_KEY, llm.base_url, {"x-org-llm-header": "org-default"})
    assert "output_type" not in args
    assert task_context.agent_id_for("Weather Reporter") == AGENT_ID
    assert_no_secret(repr(args))


def test_pydantic_ai_json_output_with_a_schema_is_a_structured_output_type(recorder, llm):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    body = agent_body("pydantic-ai", llm.base_url, output_format="json", output_schema=schema)

    args = serve_agent(recorder, body).get_args(agent_id=AGENT_ID)

    assert TypeAdapter(args["output_type"]).json_schema() == {**schema, "title": "output"}


def test_pydantic_ai_override_wins(recorder, llm):
    backend = serve_agent(recorder, agent_body("pydantic-ai", llm.base_url))

    args = backend.get_args(agent_id=AGENT_ID, override={"name": "Pyd", "retries": 3})

    assert (args["name"], args["retries"]) == ("Pyd", 3)
    assert args["metadata"] == {task_context.METADATA_AGENT_ID: AGENT_ID}
    assert task_context.agent_id_for("Pyd") == AGENT_ID


@pytest.mark.parametrize(("custom", "compatible_env", "expected"), OWN_ENDPOINT_CASES)
def test_pydantic_ai_own_endpoint_gets_only_its_own_key(recorder, llm, monkeypatch, custom, compatible_env,
                                                         expected):
    body = agent_body("pydantic-ai", llm.base_url)
    set_own_endpoint_case(monkeypatch, body, custom, compatible_env)
    weather = WeatherTool()
    agent = Agent(**serve_agent(recorder, body).get_args(agent_id=AGENT_ID, tools=[weather.function]))

    assert agent.run_sync(QUESTION).output == ANSWER
    assert_llm_requests(llm, key=expected)


@pytest.mark.parametrize(("cloud", "custom", "env", "expected"), CANONICAL_CASES)
def test_pydantic_ai_canonical_host_key(recorder, monkeypatch, cloud, custom, env, expected):
    body = agent_body("pydantic-ai", None)
    canonical_case(monkeypatch, body, cloud, custom, env)

    model = serve_agent(recorder, body).get_args(agent_id=AGENT_ID)["model"]

    assert client_settings(model) == (expected, OPENAI_BASE, {"x-org-llm-header": "org-default"})


def test_instrumented_agent_from_get_args_reports_its_xpander_ids(recorder, llm, instrument, spans):
    instrument(PydanticAIInstrumentor)
    backend = serve_agent(recorder, agent_body("pydantic-ai", llm.base_url))
    agent = Agent(**backend.get_args(agent_id=AGENT_ID, task=task(), tools=[WeatherTool().function]))

    assert agent.run_sync(QUESTION).output == ANSWER

    root = spans.one("invoke_agent Weather Reporter")
    assert root.attributes[semconv.XPANDER_AGENT_ID] == AGENT_ID
    assert root.attributes[semconv.XPANDER_TASK_ID] == TASK_ID
    for span in spans.finished():
        assert_no_secret(repr(dict(span.attributes)))
