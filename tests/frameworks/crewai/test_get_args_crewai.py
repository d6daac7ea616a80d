"""get_args for CrewAI: crewai.Agent(**args) in a one-task crew runs against the scripted LLM."""

from __future__ import annotations

import pytest
from crewai import Agent, Crew, Task
from crewai.llms.providers.openai.completion import OpenAICompletion
from crewai.tools import BaseTool

import xpander_otel
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
from xpander_otel.frameworks.crewai import OPENAI_BASE_URL
from xpander_otel.instrumentation.crewai import CrewAIInstrumentor

# CrewAI warns about its own deprecated fields on every run.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run_crew(agent: Agent) -> str:
    crew = Crew(agents=[agent], tasks=[Task(description=QUESTION, expected_output="One sentence.", agent=agent)])
    return crew.kickoff().raw


def llm_settings(llm: OpenAICompletion) -> tuple[str, str, dict[str, str]]:
    return llm.api_key, llm.base_url, dict(llm.default_headers or {})


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    isolate_env(monkeypatch)


def test_crewai_agent_from_get_args_calls_the_tool_and_answers(recorder, llm):
    backend = serve_agent(recorder, agent_body("crewai", llm.base_url))
    weather = WeatherTool()

    agent = Agent(**backend.get_args(agent_id=AGENT_ID, tools=[weather.function]))

    assert run_crew(agent) == ANSWER
    assert weather.calls == ["Paris"]
    assert_xpander_requests(recorder)
    assert_llm_requests(llm, key=CUSTOM_KEY)


def test_crewai_args_carry_config_task_and_a_wrapped_tool(recorder, llm):
    backend = serve_agent(recorder, agent_body("crewai", llm.base_url))
    weather = WeatherTool()

    args = backend.get_args(agent_id=AGENT_ID, task=task(), tools=[weather.function])
    agent = Agent(**args)

    assert (agent.role, agent.goal) == ("Weather Reporter", "Answer in one sentence.")
    assert agent.backstory == ("You report the weather.\nAnswer in one sentence.\nUse the weather tool.\n"
                               "Mention the city.\n\nThe user is in France.")
    [tool] = args["tools"]
    assert isinstance(tool, BaseTool) and tool.name == "get_weather"
    assert tool.run(city="Rome") == "Sunny, 22 degrees in Rome"
    assert isinstance(agent.llm, OpenAICompletion) and agent.llm.model == MODEL
    assert llm_settings(agent.llm) == (CUSTOM_KEY, llm.base_url, {"x-org-llm-header": "org-default"})
    assert args["verbose"] is False
    assert task_context.agent_id_for("Weather Reporter") == AGENT_ID
    assert_no_secret(repr(args))


def test_crewai_override_wins(recorder, llm):
    backend = serve_agent(recorder, agent_body("crewai", llm.base_url))

    args = backend.get_args(agent_id=AGENT_ID, override={"role": "Forecaster", "max_iter": 3})

    assert (args["role"], args["max_iter"]) == ("Forecaster", 3)
    assert task_context.agent_id_for("Forecaster") == AGENT_ID


@pytest.mark.parametrize(("custom", "compatible_env", "expected"), OWN_ENDPOINT_CASES)
def test_crewai_own_endpoint_gets_only_its_own_key(recorder, llm, monkeypatch, custom, compatible_env, expected):
    body = agent_body("crewai", llm.base_url)
    set_own_endpoint_case(monkeypatch, body, custom, compatible_env)
    weather = WeatherTool()
    agent = Agent(**serve_agent(recorder, body).get_args(agent_id=AGENT_ID, tools=[weather.function]))

    assert run_crew(agent) == ANSWER
    assert_llm_requests(llm, key=expected)


@pytest.mark.parametrize(("cloud", "custom", "env", "expected"), CANONICAL_CASES)
def test_crewai_canonical_host_key_goes_to_its_openai_provider(recorder, monkeypatch, cloud, custom, env, expected):
    body = agent_body("crewai", None)
    canonical_case(monkeypatch, body, cloud, custom, env)

    llm = serve_agent(recorder, body).get_args(agent_id=AGENT_ID)["llm"]

    assert isinstance(llm, OpenAICompletion)
    assert llm_settings(llm) == (expected, OPENAI_BASE_URL, {"x-org-llm-header": "org-default"})


def test_instrumented_agent_from_get_args_reports_its_xpander_ids(recorder, llm, instrument, spans):
    instrument(CrewAIInstrumentor)
    backend = serve_agent(recorder, agent_body("crewai", llm.base_url))
    agent = Agent(**backend.get_args(agent_id=AGENT_ID, tools=[WeatherTool().function]))

    with xpander_otel.task(task_id=TASK_ID):
        assert run_crew(agent) == ANSWER

    member = spans.one("invoke_agent Weather Reporter")
    assert member.attributes[semconv.XPANDER_AGENT_ID] == AGENT_ID  # the role was registered by get_args
    assert member.attributes[semconv.XPANDER_TASK_ID] == TASK_ID
    assert spans.one("invoke_workflow crew").attributes[semconv.XPANDER_TASK_ID] == TASK_ID
    for span in spans.finished():
        assert_no_secret(repr(dict(span.attributes)))
