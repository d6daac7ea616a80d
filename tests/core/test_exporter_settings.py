"""Exporter settings from the environment, and the retry policy's arithmetic."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import pytest

from xpander_otel import config
from xpander_otel.config import ExporterSettings, parse_agent_map
from xpander_otel.exporter.delivery import RetryPolicy, _retry_after_s


def test_agent_map_accepts_pairs_and_json():
    assert parse_agent_map("weather=agent-1, support = agent-2,") == {"weather": "agent-1", "support": "agent-2"}
    assert parse_agent_map('{"weather": "agent-1"}') == {"weather": "agent-1"}
    assert parse_agent_map(None) == {}


@pytest.mark.parametrize(("text", "message"), [
    ("weather", "XPANDER_OTEL_AGENT_MAP: expected name=agent_id pairs separated by commas, got 'weather'"),
    ("=agent-1", "XPANDER_OTEL_AGENT_MAP: expected name=agent_id pairs separated by commas, got '=agent-1'"),
    ('{"a"', "XPANDER_OTEL_AGENT_MAP is not valid JSON"),
    ('{"a": {"b": 1}}', "XPANDER_OTEL_AGENT_MAP must map agent names to agent id strings"),
])
def test_a_malformed_agent_map_names_the_variable(text, message):
    with pytest.raises(ValueError) as raised:
        parse_agent_map(text)
    assert str(raised.value).startswith(message)


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("XPANDER_OTEL_SPOOL", str(tmp_path / "s.sqlite3"))
    monkeypatch.setenv("XPANDER_OTEL_AGENT_MAP", "weather=agent-1")
    monkeypatch.setenv("XPANDER_OTEL_MAX_SPANS_PER_TRACE", "100")
    monkeypatch.setenv("XPANDER_OTEL_MAX_OPEN_TRACES", "7")
    monkeypatch.setenv("XPANDER_OTEL_TRACE_TTL", "2.5")
    monkeypatch.setenv("XPANDER_OTEL_MAX_SENDERS", "6")
    assert ExporterSettings().model_dump() == {
        "spool_path": str(tmp_path / "s.sqlite3"), "agent_map": {"weather": "agent-1"},
        "max_spans_per_trace": 100, "max_open_traces": 7, "trace_ttl_s": 2.5, "max_senders": 6}


def test_the_exporters_delivery_takes_its_sender_limit_from_the_environment(monkeypatch, tmp_path):
    from xpander_otel import Configuration
    from xpander_otel.exporter import XpanderSpanExporter

    monkeypatch.setenv("XPANDER_OTEL_MAX_SENDERS", "6")
    exporter = XpanderSpanExporter("agent-1", configuration=Configuration(api_key="k", base_url="http://127.0.0.1:9"),
                                   spool_path=tmp_path / "s.sqlite3", watch_global_provider=False)
    assert exporter._delivery._max_senders == 6
    exporter.shutdown()
    monkeypatch.delenv("XPANDER_OTEL_MAX_SENDERS")
    assert ExporterSettings().max_senders == 4


def test_a_bad_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("XPANDER_OTEL_TRACE_TTL", "soon")
    with pytest.raises(ValueError, match="XPANDER_OTEL_TRACE_TTL must be a number, got 'soon'"):
        ExporterSettings()


@pytest.mark.parametrize("name", ["XPANDER_OTEL_MAX_SPANS_PER_TRACE", "XPANDER_OTEL_MAX_OPEN_TRACES",
                                  "XPANDER_OTEL_TRACE_TTL", "XPANDER_OTEL_MAX_SENDERS"])
@pytest.mark.parametrize("raw", ["0", "-5", "nan"])
def test_a_number_that_is_not_positive_names_the_variable(monkeypatch, name, raw):
    monkeypatch.setenv(name, raw)
    if raw == "nan" and name != "XPANDER_OTEL_TRACE_TTL":
        expected = f"{name} must be a number, got 'nan'"  # not an int
    else:
        expected = f"{name} must be greater than 0, got '{raw}'"
    with pytest.raises(ValueError) as raised:
        ExporterSettings()
    assert str(raised.value) == expected


def test_default_spool_is_in_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("XPANDER_OTEL_SPOOL", raising=False)
    monkeypatch.setattr(config.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert ExporterSettings().spool_path == str(tmp_path / "xpander-otel" / "spool.sqlite3")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert config.default_spool_path() == Path.home() / ".cache" / "xpander-otel" / "spool.sqlite3"


def test_backoff_doubles_up_to_the_cap_with_jitter():
    policy = RetryPolicy(base_s=1.0, max_s=8.0)
    for attempts, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (10, 8.0), (100, 8.0)]:
        delays = [policy.backoff(attempts) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_retry_after_reads_seconds_and_http_dates():
    assert _retry_after_s("7") == 7.0
    assert _retry_after_s(None) is None
    assert _retry_after_s("soon") is None
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= _retry_after_s(in_a_minute) <= 60
