"""Shared by the get_args tests of every framework: an agent config served by the recording server,
a tool that records its calls, and an environment without stray keys."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from _servers import RecordingServer, Reply
from xpander_otel import Backend, Configuration, Task
from xpander_otel.devserver.scripted_llm import FINAL_ANSWER

AGENT_ID = "agent-7d41c0de"
TASK_ID = "task-5e0f2a11"
MODEL = "gpt-4.1-mini"
XPANDER_KEY = "xp-test-key-0001"
# Distinctive values, so a leak is found by searching for them.
CUSTOM_KEY = "sk-custom-Q7zK29mPwXv4"
ENV_OPENAI_KEY = "sk-env-openai-H3nB81rTe"
ENV_AGENTS_KEY = "sk-env-agents-U5cJ60yLq"
ENV_COMPATIBLE_KEY = "sk-env-compat-W2dF47sNa"
ORG_HEADER = {"x-org-llm-header": "org-default"}
QUESTION = "What is the weather in Paris?"
ANSWER = FINAL_ANSWER

KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "AGENTS_OPENAI_API_KEY",
    "OPENAI_COMPATIBLE_API_KEY",
    "IS_XPANDER_CLOUD",
    "XPANDER_API_KEY",
    "XPANDER_BASE_URL",
    "XPANDER_AGENT_ID",
    "XPANDER_ORGANIZATION_ID",
)


def isolate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key from the machine's environment, and no framework telemetry leaving the machine."""
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGNO_TELEMETRY", "false")
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    tracing = sys.modules.get("agents.tracing")
    if tracing is not None:
        # The SDK reads that variable once and caches it: restore its cache at teardown too, or tracing stays
        # off for every later test of the process (the instrumentation tests need it on).
        provider = tracing.get_trace_provider()
        if hasattr(provider, "_env_disabled"):
            monkeypatch.setattr(provider, "_disabled", getattr(provider, "_disabled", False))
            monkeypatch.setattr(provider, "_env_disabled", None)


def agent_body(framework: str, llm_api_base: str | None, **fields: Any) -> dict[str, Any]:
    """``GET /agents/{id}`` as xpander answers it."""
    body: dict[str, Any] = {
        "id": AGENT_ID,
        "name": "Weather Reporter",
        "description": "Reports the weather",
        "organization_id": "org-1",
        "framework": framework,
        "model_provider": "openai",
        "model_name": MODEL,
        "llm_api_base": llm_api_base,
        "llm_credentials": {"name": "mine", "description": None, "value": CUSTOM_KEY},
        "instructions": {"role": ["You report the weather."], "goal": ["Answer in one sentence."],
                         "general": "Use the weather tool."},
        "tools": [],
    }
    body.update(fields)
    return body


def serve_agent(recorder: RecordingServer, body: dict[str, Any]) -> Backend:
    """Serve the agent and the organization's default LLM headers; a Backend pointed at the recorder."""
    recorder.reply("GET", f"/agents/{body['id']}", Reply(200, body))
    recorder.reply("GET", "/metadata/default_llm_extra_headers", Reply(200, ORG_HEADER))
    return Backend(Configuration(base_url=recorder.url, api_key=XPANDER_KEY))


def assert_xpander_requests(recorder: RecordingServer) -> None:
    """get_args asked for the agent and the default headers, as xpander-sdk does, with the API key."""
    sent = [(r.method, r.path, r.headers.get("x-api-key")) for r in recorder.requests]
    assert sent == [
        ("GET", f"/agents/{AGENT_ID}", XPANDER_KEY),
        ("GET", "/metadata/default_llm_extra_headers", XPANDER_KEY),
    ]


def assert_llm_requests(llm, *, key: str, count: int = 2, tool: str = "get_weather") -> None:
    """The scripted LLM got ``count`` calls with the resolved key, the configured model and the tool."""
    requests = llm.llm.requests
    assert [r["authorization"] for r in requests] == [f"Bearer {key}"] * count
    assert [r["model"] for r in requests] == [MODEL] * count
    assert all(tool in r["tools"] for r in requests)
    assert all(r["headers"].get("x-org-llm-header") == "org-default" for r in requests)


def task() -> Task:
    return Task(id=TASK_ID, agent_id=AGENT_ID, input={"text": QUESTION},
                instructions_override="Mention the city.", additional_context="The user is in France.")


class WeatherTool:
    """A plain function tool and the cities it was called with."""

    def __init__(self) -> None:
        self.calls: list[str] = []

        def get_weather(city: str) -> str:
            """Get the current weather for a city.

            Args:
                city: The city to look up.
            """
            self.calls.append(city)
            return f"Sunny, 22 degrees in {city}"

        self.function = get_weather


# Key resolution on canonical hosts (no llm_api_base): cloud?, custom key configured?, environment -> key.
_OPENAI = {"OPENAI_API_KEY": ENV_OPENAI_KEY}
_BOTH = {**_OPENAI, "AGENTS_OPENAI_API_KEY": ENV_AGENTS_KEY}
CANONICAL_CASES = [
    pytest.param(True, True, _OPENAI, CUSTOM_KEY, id="cloud-custom-wins"),
    pytest.param(True, False, _BOTH, ENV_AGENTS_KEY, id="cloud-env-without-custom"),
    pytest.param(True, True, {}, CUSTOM_KEY, id="cloud-custom-no-env"),
    pytest.param(False, True, _OPENAI, ENV_OPENAI_KEY, id="local-env-wins"),
    pytest.param(False, True, _BOTH, ENV_AGENTS_KEY, id="local-agents-env-first"),
    pytest.param(False, True, {}, CUSTOM_KEY, id="local-custom-without-env"),
    pytest.param(False, False, {}, "EMPTY", id="local-nothing"),
]


def canonical_case(monkeypatch: pytest.MonkeyPatch, body: dict[str, Any], cloud: bool, custom: bool,
                   env: dict[str, str]) -> None:
    """Set up one canonical-host case: no llm_api_base, the environment and cloud flag as given."""
    body["llm_api_base"] = None
    if not custom:
        body["llm_credentials"] = None
    if cloud:
        monkeypatch.setenv("IS_XPANDER_CLOUD", "true")
    for name, value in env.items():
        monkeypatch.setenv(name, value)


# Key resolution for an agent with its own endpoint, through the Authorization header the LLM gets:
# (custom key configured, OPENAI_COMPATIBLE_API_KEY set) -> key. OPENAI_API_KEY is always set: never sent.
OWN_ENDPOINT_CASES = [
    pytest.param(True, True, CUSTOM_KEY, id="custom-key"),
    pytest.param(False, True, ENV_COMPATIBLE_KEY, id="openai-compatible-env"),
    pytest.param(False, False, "EMPTY", id="empty"),
]


def set_own_endpoint_case(monkeypatch: pytest.MonkeyPatch, body: dict[str, Any], custom: bool,
                          compatible_env: bool) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", ENV_OPENAI_KEY)
    monkeypatch.setenv("AGENTS_OPENAI_API_KEY", ENV_AGENTS_KEY)
    if compatible_env:
        monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", ENV_COMPATIBLE_KEY)
    if not custom:
        body["llm_credentials"] = None


def assert_no_secret(text: str) -> None:
    for secret in (CUSTOM_KEY, ENV_OPENAI_KEY, ENV_AGENTS_KEY, ENV_COMPATIBLE_KEY):
        assert secret not in text
