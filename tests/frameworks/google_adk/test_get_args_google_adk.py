"""get_args for Google ADK: LlmAgent(**args) runs against the scripted LLM through LiteLLM."""

from __future__ import annotations

import asyncio

import _get_args_fixtures  # noqa: F401  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm is imported)
import pytest
from google.adk.agents import LlmAgent
from google.adk.agents.run_config import RunConfig, StreamingMode
from google.adk.models.lite_llm import LiteLlm
from google.adk.runners import InMemoryRunner
from google.genai import types

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


def run_agent(agent: LlmAgent, streaming: bool = False) -> list:
    """Run ``agent`` on the question in an in-memory ADK runner; all events."""

    async def run() -> list:
        runner = InMemoryRunner(agent=agent, app_name="get_args_test")
        session = await runner.session_service.create_session(app_name="get_args_test", user_id="u1")
        config = RunConfig(streaming_mode=StreamingMode.SSE if streaming else StreamingMode.NONE)
        message = types.Content(role="user", parts=[types.Part(text=QUESTION)])
        return [event async for event in runner.run_async(user_id="u1", session_id=session.id,
                                                          new_message=message, run_config=config)]

    return asyncio.run(run())


def final_text(events) -> str:
    final = [e for e in events if e.is_final_response() and e.content and e.content.parts]
    return "".join(p.text or "" for p in final[-1].content.parts)


def usage(events) -> tuple[int, int]:
    """Tokens of the complete (non-partial) model responses."""
    done = [e.usage_metadata for e in events if e.usage_metadata and not e.partial]
    return sum(u.prompt_token_count for u in done), sum(u.candidates_token_count for u in done)


def test_adk_agent_from_get_args_calls_the_tool_and_answers(recorder, llm):
    backend = serve_agent(recorder, agent_body("google-adk", llm.base_url))
    weather = WeatherTool()

    events = run_agent(LlmAgent(**backend.get_args(agent_id=AGENT_ID, tools=[weather.function])))

    assert final_text(events) == ANSWER
    assert weather.calls == ["Paris"]
    assert_xpander_requests(recorder)
    assert_llm_requests(llm, key=CUSTOM_KEY)
    assert usage(events) == (130, 22)


def test_adk_streamed_run_reports_tokens(recorder, llm):
    backend = serve_agent(recorder, agent_body("google-adk", llm.base_url))
    weather = WeatherTool()

    events = run_agent(LlmAgent(**backend.get_args(agent_id=AGENT_ID, tools=[weather.function])), streaming=True)

    assert [r["stream"] for r in llm.llm.requests] == [True, True]
    assert final_text(events) == ANSWER
    assert weather.calls == ["Paris"]
    assert usage(events) == (130, 22)


def test_adk_args_carry_config_task_and_ids(recorder, llm):
    backend = serve_agent(recorder, agent_body("google-adk", llm.base_url))
    weather = WeatherTool()

    args = backend.get_args(agent_id=AGENT_ID, task=task(), tools=[weather.function])

    assert sorted(args) == ["description", "instruction", "model", "name", "tools"]
    assert (args["name"], args["description"]) == ("Weather_Reporter", "Reports the weather")
    assert args["instruction"] == ("You report the weather.\nAnswer in one sentence.\nUse the weather tool.\n"
                                   "Mention the city.\n\nThe user is in France.")
    assert args["tools"] == [weather.function]
    model = args["model"]
    assert isinstance(model, LiteLlm) and model.model == f"openai/{MODEL}"
    assert model._additional_args == {"api_key": CUSTOM_KEY, "api_base": llm.base_url,
                                      "extra_headers": {"x-org-llm-header": "org-default"}}
    assert task_context.agent_id_for("Weather_Reporter") == AGENT_ID
    assert_no_secret(repr(args))
    assert_no_secret(repr(LlmAgent(**args)))


@pytest.mark.parametrize(("name", "identifier"), [
    ("Weather Reporter", "Weather_Reporter"),
    ("my-agent v2!", "my_agent_v2"),
    ("3rd agent", "agent_3rd_agent"),
    ("user", "user_agent"),
    ("", AGENT_ID.replace("-", "_")),
])
def test_adk_agent_names_become_identifiers(recorder, llm, name, identifier):
    backend = serve_agent(recorder, agent_body("google-adk", llm.base_url, name=name))

    args = backend.get_args(agent_id=AGENT_ID)

    assert LlmAgent(**args).name == identifier


def test_adk_output_schema_and_providers(recorder, llm):
    schema = {"type": "object", "properties": {"forecast": {"type": "string"}}, "required": ["forecast"]}
    backend = serve_agent(recorder, agent_body("google-adk", None, output_format="json", output_schema=schema,
                                               model_provider="anthropic", model_name="claude-sonnet-4-5"))

    args = backend.get_args(agent_id=AGENT_ID, override={"description": "mine"})

    assert LlmAgent(**args).output_schema == schema
    assert args["description"] == "mine"
    assert args["model"].model == "anthropic/claude-sonnet-4-5"
    assert "api_base" not in args["model"]._additional_args


@pytest.mark.parametrize(("custom", "compatible_env", "expected"), OWN_ENDPOINT_CASES)
def test_adk_own_endpoint_gets_only_its_own_key(recorder, llm, monkeypatch, custom, compatible_env, expected):
    body = agent_body("google-adk", llm.base_url)
    set_own_endpoint_case(monkeypatch, body, custom, compatible_env)
    weather = WeatherTool()

    events = run_agent(LlmAgent(**serve_agent(recorder, body).get_args(agent_id=AGENT_ID, tools=[weather.function])))

    assert final_text(events) == ANSWER
    assert_llm_requests(llm, key=expected)


@pytest.mark.parametrize(("cloud", "custom", "env", "expected"), CANONICAL_CASES)
def test_adk_canonical_host_key(recorder, monkeypatch, cloud, custom, env, expected):
    body = agent_body("google-adk", None)
    canonical_case(monkeypatch, body, cloud, custom, env)

    model = serve_agent(recorder, body).get_args(agent_id=AGENT_ID)["model"]

    assert model.model == f"openai/{MODEL}"
    assert model._additional_args == {"api_key": expected, "extra_headers": {"x-org-llm-header": "org-default"}}
