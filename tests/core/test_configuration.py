"""Configuration: environment fallbacks, base URL normalisation and the agent-controller path rule."""

from __future__ import annotations

import pytest

from xpander_otel import Backend, Configuration

ENV = ("XPANDER_API_KEY", "XPANDER_ORGANIZATION_ID", "XPANDER_BASE_URL", "XPANDER_AGENT_ID", "IS_XPANDER_CLOUD")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_defaults_point_at_xpander_inbound():
    cfg = Configuration()
    assert (cfg.base_url, cfg.api_key, cfg.organization_id) == ("https://inbound.xpander.ai", None, None)
    assert cfg.get_full_url() == "https://inbound.xpander.ai"
    assert cfg.headers() == {}


def test_environment_fills_every_field(monkeypatch):
    monkeypatch.setenv("XPANDER_API_KEY", "env-key-123456")
    monkeypatch.setenv("XPANDER_ORGANIZATION_ID", "org-9")
    monkeypatch.setenv("XPANDER_BASE_URL", "api.example.test/")
    monkeypatch.setenv("XPANDER_AGENT_ID", "agent-env")
    cfg = Configuration()
    assert cfg.api_key.get_secret_value() == "env-key-123456"
    assert (cfg.organization_id, cfg.base_url, cfg.agent_id) == ("org-9", "https://api.example.test", "agent-env")
    assert cfg.headers() == {"x-api-key": "env-key-123456"}


def test_explicit_arguments_win_over_environment(monkeypatch):
    monkeypatch.setenv("XPANDER_BASE_URL", "https://env.example.test")
    cfg = Configuration(api_key="arg-key", base_url="http://127.0.0.1:1234")
    assert cfg.base_url == "http://127.0.0.1:1234"
    assert cfg.api_key.get_secret_value() == "arg-key"


@pytest.mark.parametrize(
    ("base_url", "full_url"),
    [
        ("https://agent-controller.xpander.ai", "https://agent-controller.xpander.ai/org-1"),
        ("https://agent-controller-acme.internal", "https://agent-controller-acme.internal/org-1"),
        ("http://127.0.0.1:9016", "http://127.0.0.1:9016/org-1"),
        ("https://gw.example.test/agent-controller", "https://gw.example.test/agent-controller/org-1"),
        ("https://inbound.xpander.ai", "https://inbound.xpander.ai"),
        ("https://gw.example.test/inbound/agent-controller", "https://gw.example.test/inbound/agent-controller"),
        ("http://127.0.0.1:9017", "http://127.0.0.1:9017"),
    ],
)
def test_organization_id_is_appended_only_for_agent_controllers(base_url, full_url):
    assert Configuration(base_url=base_url, organization_id="org-1").get_full_url() == full_url


def test_agent_controller_without_organization_says_what_to_set():
    with pytest.raises(ValueError, match="XPANDER_ORGANIZATION_ID"):
        Configuration(base_url="http://127.0.0.1:9016").get_full_url()


def test_requests_to_an_agent_controller_carry_the_organization(recorder):
    # The recorder is reached through a path-mounted agent-controller URL.
    backend = Backend(Configuration(api_key="k-123456789", organization_id="org-7",
                                    base_url=f"{recorder.url}/agent-controller"))
    backend.report_external_task(agent_id="a1", id="t1", result="ok")
    assert recorder.requests[0].path == "/agent-controller/org-7/agent-execution/a1/report_task"


def test_is_xpander_cloud_only_for_exact_true(monkeypatch):
    from xpander_otel import config

    for value, expected in [("true", True), ("True", False), ("1", False), ("", False)]:
        monkeypatch.setenv("IS_XPANDER_CLOUD", value)
        assert config.is_xpander_cloud() is expected
