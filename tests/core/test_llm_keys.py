"""Custom LLM key resolution: cloud/local x custom key x environment key x canonical host/own endpoint."""

from __future__ import annotations

import itertools

import pytest

from xpander_otel.llm_keys import resolve_llm_key, uses_own_endpoint
from xpander_otel.models import AgentConfig

CUSTOM = "custom-key-AAAA1111"
ENV_KEY = "env-key-BBBB2222"
COMPATIBLE = "compatible-key-CCCC3333"

KEY_VARS = ("OPENAI_API_KEY", "AGENTS_OPENAI_API_KEY", "OPENAI_COMPATIBLE_API_KEY", "ANTHROPIC_API_KEY",
            "AGENTS_ANTHROPIC_API_KEY", "IS_XPANDER_CLOUD")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)


def agent(custom: bool, api_base: str | None, provider: str = "openai") -> AgentConfig:
    return AgentConfig(
        id="agent-1",
        model_provider=provider,
        llm_api_base=api_base,
        llm_credentials={"name": "key", "value": CUSTOM} if custom else None,
    )


def expected(cloud: bool, custom: bool, env: bool, own: bool) -> str:
    if own:
        return CUSTOM if custom else "EMPTY"
    first, second = (CUSTOM if custom else None, ENV_KEY if env else None)
    if not cloud:
        first, second = second, first
    return first or second or "EMPTY"


BASES = {"no base": (None, False), "canonical base": ("https://api.openai.com/v1", False),
         "own endpoint": ("http://127.0.0.1:8000/v1", True)}


@pytest.mark.parametrize(
    ("cloud", "custom", "env", "base"),
    list(itertools.product([True, False], [True, False], [True, False], BASES)),
)
def test_resolution_matrix(monkeypatch, cloud, custom, env, base):
    api_base, own = BASES[base]
    if cloud:
        monkeypatch.setenv("IS_XPANDER_CLOUD", "true")
    if env:
        monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    key = resolve_llm_key(agent(custom, api_base))
    assert key.get_secret_value() == expected(cloud, custom, env, own)
    assert uses_own_endpoint(agent(custom, api_base)) is own


def test_agents_prefixed_variable_wins_over_the_providers_usual_one(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("AGENTS_OPENAI_API_KEY", "agents-key-DDDD4444")
    assert resolve_llm_key(agent(True, None)).get_secret_value() == "agents-key-DDDD4444"


def test_own_endpoint_without_custom_key_uses_openai_compatible_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", COMPATIBLE)
    assert resolve_llm_key(agent(False, "http://127.0.0.1:8000/v1")).get_secret_value() == COMPATIBLE
    # ...but the agent's own custom key still comes first.
    assert resolve_llm_key(agent(True, "http://127.0.0.1:8000/v1")).get_secret_value() == CUSTOM


def test_provider_specific_variables(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropic-key-EEEE5555")
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    resolved = resolve_llm_key(agent(False, None, provider="anthropic"))
    assert resolved.get_secret_value() == "anthropic-key-EEEE5555"


def test_canonical_host_of_one_provider_is_an_own_endpoint_for_another():
    assert uses_own_endpoint(agent(False, "https://api.openai.com/v1", provider="anthropic")) is True


def test_resolved_key_is_masked_in_repr_and_str(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    key = resolve_llm_key(agent(False, None))
    assert ENV_KEY not in repr(key)
    assert ENV_KEY not in str(key)
    assert CUSTOM not in repr(agent(True, None))
