"""OpenAIAgentsInstrumentor's lifecycle and robustness: double instrument/uninstrument, and faults
injected into our code (span creation, attribute building, the stream hand-over, the tracing bridge)."""

from __future__ import annotations

import asyncio

from _openai_agents_instrumentation_support import FINAL_ANSWER, agent, event_kinds, outcome
from agents import Runner
from agents.run import AgentRunner
from agents.tool_context import ToolContext
from opentelemetry.sdk.trace import Tracer

from xpander_otel.instrumentation import _wrap
from xpander_otel.instrumentation.openai_agents import OpenAIAgentsInstrumentor, patch
from xpander_otel.instrumentation.openai_agents.package import _instruments

PATCHED = [(AgentRunner, "run"), (AgentRunner, "run_streamed"), (ToolContext, "from_agent_context")]


def _originals():
    return {(owner, name): owner.__dict__[name] for owner, name in PATCHED}


def test_declares_supported_versions():
    assert OpenAIAgentsInstrumentor().instrumentation_dependencies() == _instruments == ("openai-agents >= 0.24",)


def test_instrument_twice_wraps_once(instrument, spans, llm):
    instrumentor = instrument(OpenAIAgentsInstrumentor)
    instrumentor.instrument()

    Runner.run_sync(agent(llm), "weather?")

    assert len(spans.by_prefix("invoke_agent")) == 1
    assert len(spans.by_prefix("chat")) == 2


def test_uninstrument_restores_the_originals(instrument, spans, llm):
    originals = _originals()
    instrumentor = instrument(OpenAIAgentsInstrumentor)
    assert all(owner.__dict__[name] is not originals[(owner, name)] for owner, name in PATCHED)

    instrumentor.uninstrument()
    instrumentor.uninstrument()

    assert _originals() == originals
    assert Runner.run_sync(agent(llm), "weather?").final_output == FINAL_ANSWER
    assert spans.finished() == []  # the bridge stays registered with the SDK but is switched off


def test_instrument_again_after_uninstrument(instrument, spans, llm):
    instrumentor = instrument(OpenAIAgentsInstrumentor)
    instrumentor.uninstrument()
    instrumentor.instrument()

    Runner.run_sync(agent(llm), "weather?")

    assert len(spans.by_prefix("invoke_agent")) == 1
    assert len(spans.by_prefix("chat")) == 2


def _baseline_and_traced(instrument, run):
    plain = run()
    instrument(OpenAIAgentsInstrumentor)
    return plain, run(), run()


def _sync_run(llm):
    return lambda: outcome(Runner.run_sync(agent(llm), "weather?"))


def _streamed_run(llm):
    async def run():
        result = Runner.run_streamed(agent(llm), "weather?")
        return event_kinds([e async for e in result.stream_events()]), result.final_output

    return lambda: asyncio.run(run())


def test_span_creation_failure(instrument, spans, llm, monkeypatch, instrumentation_failures):
    def broken(*args, **kwargs):
        raise RuntimeError("span creation broke")

    monkeypatch.setattr(Tracer, "start_span", broken)
    plain, first, second = _baseline_and_traced(instrument, _sync_run(llm))

    assert first == second == plain
    assert spans.finished() == []
    failures = instrumentation_failures()
    # One line per place (run, the SDK's agent span left unclaimed, model call, tool call), however many calls.
    assert len(failures) == 4
    assert all("span creation broke" in f for f in failures)


def test_invocation_building_failure(instrument, spans, llm, monkeypatch, instrumentation_failures):
    def broken(*args, **kwargs):
        raise KeyError("attribute building broke")

    monkeypatch.setattr(patch, "_run_invocation", broken)
    plain, first, second = _baseline_and_traced(instrument, _sync_run(llm))

    assert first == second == plain
    spans.assert_all_ended()
    assert len(instrumentation_failures()) == 1


def test_end_attributes_failure(instrument, spans, llm, monkeypatch, instrumentation_failures):
    def broken(self):
        raise ValueError("end attributes broke")

    monkeypatch.setattr(_wrap.ToolInvocation, "end_attributes", broken)
    plain, first, second = _baseline_and_traced(instrument, _sync_run(llm))

    assert first == second == plain
    spans.assert_all_ended()
    assert len(spans.by_prefix("execute_tool")) == 2
    assert len(instrumentation_failures()) == 1


def test_bridge_failure(instrument, spans, llm, monkeypatch, instrumentation_failures):
    def broken(*args):
        raise TypeError("bridge broke")

    monkeypatch.setattr(patch, "_fill", broken)
    plain, first, second = _baseline_and_traced(instrument, _sync_run(llm))

    assert first == second == plain
    spans.assert_all_ended()
    assert len(instrumentation_failures()) == 1


def test_stream_hand_over_failure(instrument, spans, llm, monkeypatch, instrumentation_failures):
    def broken(*args):
        raise RuntimeError("stream wrapper broke")

    monkeypatch.setattr(patch, "_end_with_run_loop", broken)
    plain, first, second = _baseline_and_traced(instrument, _streamed_run(llm))

    assert first == second == plain
    spans.assert_all_ended()
    assert len(instrumentation_failures()) == 1


def test_entry_point_for_opentelemetry_instrument():
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "xpander_openai_agents"]
    assert entry.load() is OpenAIAgentsInstrumentor


ZERO_CODE_SCRIPT = """
import sys
from agents import Agent, OpenAIResponsesModel, Runner, function_tool
from openai import AsyncOpenAI

@function_tool
def get_weather(city: str) -> str:
    \"\"\"The weather in a city.\"\"\"
    return "sunny"

client = AsyncOpenAI(base_url=sys.argv[1], api_key="sk-test")
agent = Agent(name="weather", model=OpenAIResponsesModel(model="scripted-weather", openai_client=client),
              tools=[get_weather])
print("RESULT", Runner.run_sync(agent, "weather?").final_output)
"""


def test_zero_code_with_opentelemetry_instrument(llm, tmp_path):
    from _zero_code import run_under_opentelemetry_instrument

    stdout, spans = run_under_opentelemetry_instrument(ZERO_CODE_SCRIPT, llm, tmp_path, timeout=120)

    assert f"RESULT {FINAL_ANSWER}" in stdout
    assert sorted(s["name"] for s in spans) == ["chat scripted-weather", "chat scripted-weather", "execute_tool get_weather",
                             "invoke_agent weather"]


def test_bridge_keeps_nothing_after_runs(instrument, spans, llm):
    instrument(OpenAIAgentsInstrumentor)
    Runner.run_sync(agent(llm), "weather?")
    asyncio.run(_drain_streamed(llm))

    assert patch.BRIDGE._nodes == {}
    assert not [ids for ids in patch.BRIDGE._traces.values() if ids]


async def _drain_streamed(llm):
    result = Runner.run_streamed(agent(llm), "weather?")
    async for _ in result.stream_events():
        pass
