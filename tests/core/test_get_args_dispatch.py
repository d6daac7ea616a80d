"""dispatch_get_args picks a builder by framework; unknown or missing frameworks fail clearly."""

from __future__ import annotations

import asyncio

import pytest

from _get_args_support import AGENT_ID, CUSTOM_KEY, agent_body, isolate_env, serve_agent
from xpander_otel.errors import FrameworkNotInstalled, UnsupportedFramework
from xpander_otel.frameworks import SUPPORTED_FRAMEWORKS, dispatch_get_args
from xpander_otel.models import AgentConfig


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    isolate_env(monkeypatch)


def _agent(framework: str) -> AgentConfig:
    return AgentConfig.model_validate(agent_body(framework, "http://127.0.0.1:9/v1"))


def test_unknown_framework_lists_the_supported_ones():
    with pytest.raises(UnsupportedFramework) as caught:
        asyncio.run(dispatch_get_args(_agent("crewai")))
    assert str(caught.value) == (
        "No get_args builder for framework 'crewai'. Supported: agno, google-adk, langchain, langgraph, "
        "open-ai-agents, strands-agents, neutral (pass framework=... to choose one)."
    )
    assert SUPPORTED_FRAMEWORKS == ("agno", "google-adk", "langchain", "langgraph", "open-ai-agents",
                                    "strands-agents", "neutral")


@pytest.mark.parametrize(("framework", "extra"), [
    ("agno", "agno"),
    ("open-ai-agents", "openai-agents"),
    ("langchain", "langchain"),
    ("langgraph", "langchain"),
    ("strands-agents", "strands"),
    ("google-adk", "google-adk"),
    ("OpenAI_Agents", "openai-agents"),  # spellings of an explicit framework= are normalized
    ("strands", "strands"),
    ("adk", "google-adk"),
])
def test_framework_not_installed_names_the_extra(recorder, framework, extra):
    backend = serve_agent(recorder, agent_body(framework, "http://127.0.0.1:9/v1"))

    with pytest.raises(FrameworkNotInstalled) as caught:
        backend.get_args(agent_id=AGENT_ID)

    assert f'pip install "xpander-otel[{extra}]"' in str(caught.value)
    assert CUSTOM_KEY not in str(caught.value)


def test_explicit_neutral_framework_needs_no_framework(recorder):
    backend = serve_agent(recorder, agent_body("agno", "http://127.0.0.1:9/v1"))

    args = backend.get_args(agent_id=AGENT_ID, framework="neutral", override={"name": "Mine"})

    assert (args["agent_id"], args["name"], args["api_base"]) == (AGENT_ID, "Mine", "http://127.0.0.1:9/v1")
    assert args["api_key"].get_secret_value() == CUSTOM_KEY
    assert CUSTOM_KEY not in repr(args)
