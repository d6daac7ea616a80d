"""AgnoInstrumentor's own lifecycle and robustness: double instrument/uninstrument, and faults injected
into our code (span creation, attribute building, the stream wrapper) that must not reach the user."""

from __future__ import annotations

import asyncio

import pytest
from _agno_instrumentation_support import FINAL_ANSWER, agent, chunks, outcome
from agno.agent import Agent
from agno.models.base import Model
from agno.team import Team
from agno.tools.function import FunctionCall
from opentelemetry.sdk.trace import Tracer

from xpander_otel.instrumentation import _wrap
from xpander_otel.instrumentation.agno import AgnoInstrumentor, patch
from xpander_otel.instrumentation.agno.package import _instruments

PATCHED = [
    (Agent, "run"), (Agent, "arun"), (Team, "run"), (Team, "arun"),
    (Model, "_invoke_with_retry"), (Model, "_ainvoke_with_retry"),
    (Model, "_invoke_stream_with_retry"), (Model, "_ainvoke_stream_with_retry"),
    (FunctionCall, "execute"), (FunctionCall, "aexecute"),
]


def _originals():
    return {(owner, name): owner.__dict__[name] for owner, name in PATCHED}


def test_declares_supported_versions():
    assert AgnoInstrumentor().instrumentation_dependencies() == _instruments == ("agno >= 3.0",)


def test_instrument_twice_wraps_once(instrument, spans, llm):
    instrumentor = instrument(AgnoInstrumentor)
    instrumentor.instrument()

    agent(llm).run("weather?")

    assert len(spans.by_prefix("invoke_agent")) == 1
    assert len(spans.by_prefix("chat")) == 2


def test_uninstrument_restores_the_originals(instrument, spans, llm):
    originals = _originals()
    instrumentor = instrument(AgnoInstrumentor)
    assert all(owner.__dict__[name] is not originals[(owner, name)] for owner, name in PATCHED)

    instrumentor.uninstrument()
    instrumentor.uninstrument()

    assert _originals() == originals
    assert agent(llm).run("weather?").content == FINAL_ANSWER
    assert spans.finished() == []


def test_instrument_again_after_uninstrument(instrument, spans, llm):
    instrumentor = instrument(AgnoInstrumentor)
    instrumentor.uninstrument()
    instrumentor.instrument()

    agent(llm).run("weather?")

    assert len(spans.by_prefix("invoke_agent")) == 1


def _baseline_and_traced(instrument, run):
    plain = run()
    instrument(AgnoInstrumentor)
    return plain, run(), run()


def test_span_creation_failure(instrument, spans, llm, monkeypatch, instrumentation_failures):
    def broken(*args, **kwargs):
        raise RuntimeError("span creation broke")

    monkeypatch.setattr(Tracer, "start_span", broken)
    plain, first, second = _baseline_and_traced(instrument, lambda: outcome(agent(llm).run("weather?")))

    assert first == second == plain
    assert spans.finished() == []
    failures = instrumentation_failures()
    assert len(failures) == 3  # one line per place (run, model call, tool call), however many calls
    assert all("span creation broke" in f for f in failures)


def test_invocation_building_failure(instrument, spans, llm, monkeypatch, instrumentation_failures):
    def broken(*args, **kwargs):
        raise KeyError("attribute building broke")

    monkeypatch.setattr(patch, "_run_invocation", broken)
    plain, first, second = _baseline_and_traced(instrument, lambda: outcome(agent(llm).run("weather?")))

    assert first == second == plain
    assert spans.by_prefix("invoke_agent") == []  # the run is not traced; its calls still are
    assert len(spans.by_prefix("chat")) == 4
    assert len(instrumentation_failures()) == 1


def test_end_attributes_failure(instrument, spans, llm, monkeypatch, instrumentation_failures):
    def broken(self):
        raise ValueError("end attributes broke")

    monkeypatch.setattr(_wrap.AgentInvocation, "end_attributes", broken)
    plain, first, second = _baseline_and_traced(instrument, lambda: outcome(agent(llm).run("weather?")))

    assert first == second == plain
    spans.assert_all_ended()
    assert len(spans.by_prefix("invoke_agent")) == 2
    assert len(instrumentation_failures()) == 1


def test_result_callback_failure(instrument, spans, llm, monkeypatch, instrumentation_failures):
    def broken(*args):
        raise TypeError("result callback broke")

    monkeypatch.setattr(patch, "_add_response", broken)
    plain, first, second = _baseline_and_traced(instrument, lambda: outcome(agent(llm).run("weather?")))

    assert first == second == plain
    spans.assert_all_ended()
    assert len(instrumentation_failures()) == 1


def test_stream_wrapper_failure(instrument, spans, llm, monkeypatch, instrumentation_failures):
    def broken(*args, **kwargs):
        raise RuntimeError("stream wrapper broke")

    monkeypatch.setattr(_wrap.SyncStream, "__init__", broken)
    plain, first, second = _baseline_and_traced(
        instrument, lambda: chunks(list(agent(llm).run("weather?", stream=True)))
    )

    assert first == second == plain
    spans.assert_all_ended()
    assert len(instrumentation_failures()) == 2  # the run's stream and the model's stream


def test_stream_chunk_callback_failure(instrument, spans, llm, monkeypatch, instrumentation_failures):
    def broken(*args):
        raise RuntimeError("chunk callback broke")

    monkeypatch.setattr(patch, "_record_run_event", broken)

    async def run():
        return chunks([e async for e in agent(llm).arun("weather?", stream=True)])

    plain, first, second = _baseline_and_traced(instrument, lambda: asyncio.run(run()))

    assert first == second == plain
    spans.assert_all_ended()
    assert len(spans.by_prefix("invoke_agent")) == 2
    assert len(instrumentation_failures()) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_no_span_left_open_when_the_llm_fails(instrument, spans, llm, stream):
    instrument(AgnoInstrumentor)
    failing = agent(llm, model_name="scripted-error")
    if stream:
        list(failing.run("weather?", stream=True))
    else:
        failing.run("weather?")

    spans.assert_all_ended()


def test_entry_point_for_opentelemetry_instrument():
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "xpander_agno"]
    assert entry.load() is AgnoInstrumentor


ZERO_CODE_SCRIPT = """
import sys
from agno.agent import Agent
from agno.models.openai import OpenAIChat

def get_weather(city: str) -> str:
    \"\"\"The weather in a city.\"\"\"
    return "sunny"

agent = Agent(name="weather", model=OpenAIChat(id="scripted-weather", base_url=sys.argv[1], api_key="sk-test"),
              tools=[get_weather])
print("RESULT", agent.run("weather?").content)
"""


def test_zero_code_with_opentelemetry_instrument(llm, tmp_path):
    from _zero_code import run_under_opentelemetry_instrument

    stdout, spans = run_under_opentelemetry_instrument(ZERO_CODE_SCRIPT, llm, tmp_path, timeout=120)

    assert f"RESULT {FINAL_ANSWER}" in stdout
    assert sorted(s["name"] for s in spans) == ["chat scripted-weather", "chat scripted-weather", "execute_tool get_weather",
                             "invoke_agent weather"]
