"""get_args plumbing: the requests it makes and the provider-neutral arguments it returns."""

from __future__ import annotations

import asyncio

import pytest

from _servers import Reply
from xpander_otel import Backend, Configuration, ModuleException

API_KEY = "xp-test-key-0002"
CUSTOM = "custom-llm-key-ZZZZ9999"

AGENT = {
    "id": "agent-123",
    "organization_id": "org-1",
    "name": "Weather agent",
    "unique_name": "weather-agent",
    "description": "Answers weather questions",
    "framework": "neutral",
    "model_provider": "openai",
    "model_name": "gpt-4.1",
    "llm_api_base": "http://127.0.0.1:9/v1",
    "llm_extra_headers": {"x-agent-header": "a"},
    "llm_credentials": {"name": "mine", "value": CUSTOM},
    "instructions": {"role": ["You are a weather assistant."], "goal": ["Answer briefly."], "general": "Use tools."},
    "version": 3,
    "some_new_platform_field": {"kept": True},
}


@pytest.fixture
def backend(recorder):
    recorder.reply("GET", "/agents/agent-123", Reply(200, AGENT))
    recorder.reply("GET", "/metadata/default_llm_extra_headers", Reply(200, {"x-org-header": "o"}))
    return Backend(Configuration(api_key=API_KEY, base_url=recorder.url))


def _assert_neutral_args(args):
    assert args["agent_id"] == "agent-123"
    assert args["name"] == "Weather agent"
    assert args["model_provider"] == "openai"
    assert args["model_name"] == "gpt-4.1"
    assert args["api_base"] == "http://127.0.0.1:9/v1"
    assert args["api_key"].get_secret_value() == CUSTOM
    assert args["extra_headers"] == {"x-org-header": "o", "x-agent-header": "a"}
    assert args["instructions"] == "You are a weather assistant.\nAnswer briefly.\nUse tools."
    assert args["tools"] == []
    assert args["task_id"] is None
    assert CUSTOM not in repr(args)


def test_get_args_with_explicit_agent_id(backend, recorder):
    args = backend.get_args(agent_id="agent-123")
    _assert_neutral_args(args)
    sent = [(r.method, r.path) for r in recorder.requests]
    assert sent == [("GET", "/agents/agent-123"), ("GET", "/metadata/default_llm_extra_headers")]
    assert all(r.headers["x-api-key"] == API_KEY for r in recorder.requests)
    assert "x-agent-version" not in recorder.requests[0].headers


def test_get_args_with_agent_id_from_environment(monkeypatch, backend, recorder):
    monkeypatch.setenv("XPANDER_AGENT_ID", "agent-123")
    _assert_neutral_args(Backend(Configuration(api_key=API_KEY, base_url=recorder.url)).get_args())
    assert recorder.requests[0].path == "/agents/agent-123"


def test_aget_args_sends_the_version_header(backend, recorder):
    args = asyncio.run(backend.aget_args(agent_id="agent-123", agent_version=3))
    _assert_neutral_args(args)
    assert recorder.requests[0].headers["x-agent-version"] == "3"


def test_get_args_without_agent_id_names_the_variable(monkeypatch, backend, recorder):
    monkeypatch.delenv("XPANDER_AGENT_ID", raising=False)
    with pytest.raises(ValueError, match="XPANDER_AGENT_ID"):
        backend.get_args()
    assert recorder.requests == []


def test_override_and_tools_reach_the_arguments(backend):
    def lookup(city: str) -> str:
        return city

    args = backend.get_args(agent_id="agent-123", override={"name": "Renamed"}, tools=[lookup])
    assert args["name"] == "Renamed"
    assert args["tools"] == [lookup]


def test_task_adds_its_instructions_and_id(backend):
    from xpander_otel import Task

    task = Task(id="task-77", input={"text": "hi"}, instructions_override="Answer in French.")
    args = backend.get_args(agent_id="agent-123", task=task)
    assert args["task_id"] == "task-77"
    assert args["instructions"].endswith("Use tools.\nAnswer in French.")


def test_missing_org_default_headers_are_treated_as_none(recorder):
    recorder.reply("GET", "/agents/agent-123", Reply(200, AGENT))
    args = Backend(Configuration(api_key=API_KEY, base_url=recorder.url)).get_args(agent_id="agent-123")
    assert args["extra_headers"] == {"x-agent-header": "a"}


def test_unknown_agent_is_a_404_module_exception(recorder):
    recorder.reply("GET", "/agents/nope", Reply(404, {"detail": "Agent nope not found"}))
    with pytest.raises(ModuleException) as caught:
        Backend(Configuration(api_key=API_KEY, base_url=recorder.url)).get_args(agent_id="nope")
    assert caught.value.status_code == 404
    assert caught.value.description == '{"detail":"Agent nope not found"}'
