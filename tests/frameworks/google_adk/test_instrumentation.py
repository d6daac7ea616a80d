"""Google ADK against the scripted LLM (through LiteLLM): its native spans reach our provider, enriched.

Modes: ``Runner.run`` (sync; ADK drives ``run_async`` in a thread), ``Runner.run_async``, and both with
``StreamingMode.SSE`` (token streaming).
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm never reaches the internet

import pytest
from google.adk.agents import LlmAgent
from google.adk.agents.run_config import RunConfig, StreamingMode
from google.adk.models.lite_llm import LiteLlm
from google.adk.runners import InMemoryRunner, Runner
from google.adk.telemetry import tracing
from google.adk.tools.agent_tool import AgentTool
from google.genai import types
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import xpander_otel
from xpander_otel import semconv, task_context
from xpander_otel.devserver.scripted_llm import FINAL_ANSWER
from xpander_otel.instrumentation import _native
from xpander_otel.instrumentation.google_adk import GoogleADKInstrumentor, patch

QUESTION = "What is the weather in Paris?"
LLM_SPAN = "generate_content openai/scripted-weather"
WEATHER_TREE = f"""
invoke_workflow weather INTERNAL
  invoke_agent weather INTERNAL
    {LLM_SPAN} CLIENT
    execute_tool get_weather INTERNAL
    {LLM_SPAN} CLIENT
"""


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def broken_weather(city: str) -> str:
    """The weather in a city (always fails)."""
    raise ValueError(f"no weather for {city}")


def make_agent(llm, *, model="scripted-weather", name="weather", tools=(get_weather,)) -> LlmAgent:
    return LlmAgent(
        name=name,
        model=LiteLlm(model=f"openai/{model}", api_base=llm.base_url, api_key="sk-test", num_retries=0),
        instruction="Answer about the weather.",
        tools=list(tools),
    )


def _message() -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=QUESTION)])


def _config(stream: bool) -> RunConfig:
    return RunConfig(streaming_mode=StreamingMode.SSE if stream else StreamingMode.NONE)


def _texts(events, *, partial: bool) -> list[str]:
    return [
        part.text
        for event in events
        if bool(event.partial) == partial and event.content
        for part in event.content.parts or ()
        if part.text
    ]


def run_sync(llm, *, stream=False, **kwargs) -> list:
    runner = InMemoryRunner(agent=make_agent(llm, **kwargs), app_name="weather")
    session = asyncio.run(runner.session_service.create_session(app_name="weather", user_id="u"))
    return list(runner.run(user_id="u", session_id=session.id, new_message=_message(), run_config=_config(stream)))


async def _run_async(llm, *, stream=False, stop_after=None, **kwargs) -> list:
    runner = InMemoryRunner(agent=make_agent(llm, **kwargs), app_name="weather")
    session = await runner.session_service.create_session(app_name="weather", user_id="u")
    events = []
    async for event in runner.run_async(
        user_id="u", session_id=session.id, new_message=_message(), run_config=_config(stream)
    ):
        events.append(event)
        if stop_after is not None and len(_texts(events, partial=True)) >= stop_after:
            break  # abandoned: dropped without aclose()
    return events


def run_async(llm, **kwargs) -> list:
    return asyncio.run(_run_async(llm, **kwargs))


def final_text(events) -> str:
    return _texts(events, partial=False)[-1]


def _without_ids(value):
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def comparable(events) -> list:
    """What the user sees of the events, without per-run ids (tool-call ids count up) and timestamps."""
    return [
        (e.author, bool(e.partial), _without_ids(e.content.model_dump(exclude_none=True)) if e.content else None)
        for e in events
    ]


def assert_weather_spans(spans, llm) -> None:
    calls = spans.named(LLM_SPAN)
    assert [(c.attributes[semconv.USAGE_INPUT_TOKENS], c.attributes[semconv.USAGE_OUTPUT_TOKENS]) for c in calls] == [
        (50, 10),
        (80, 12),
    ]
    tool_span = spans.one("execute_tool get_weather")
    assert tool_span.attributes[semconv.TOOL_NAME] == "get_weather"
    ids = [c["id"] for r in llm.llm.requests for m in r["messages"] for c in m.get("tool_calls") or ()]
    assert ids and {tool_span.attributes[semconv.TOOL_CALL_ID]} == set(ids)
    root = spans.one("invoke_workflow weather")
    assert root.attributes[semconv.XPANDER_TASK_INPUT] == QUESTION
    assert root.attributes[semconv.XPANDER_TASK_RESULT] == FINAL_ANSWER


@pytest.mark.parametrize("stream", [False, True], ids=["sync", "sync_stream"])
def test_sync_run(spans, instrument, llm, stream):
    baseline = run_sync(llm, stream=stream)
    spans.clear()
    instrument(GoogleADKInstrumentor)
    llm.llm.requests.clear()

    events = run_sync(llm, stream=stream)
    assert comparable(events) == comparable(baseline)
    assert final_text(events) == FINAL_ANSWER
    if stream:
        assert "".join(_texts(events, partial=True)) == FINAL_ANSWER
    spans.assert_tree(WEATHER_TREE)
    assert_weather_spans(spans, llm)


@pytest.mark.parametrize("stream", [False, True], ids=["async", "async_stream"])
def test_async_run(spans, instrument, llm, stream):
    baseline = run_async(llm, stream=stream)
    spans.clear()
    instrument(GoogleADKInstrumentor)
    llm.llm.requests.clear()

    events = run_async(llm, stream=stream)
    assert comparable(events) == comparable(baseline)
    spans.assert_tree(WEATHER_TREE)
    assert_weather_spans(spans, llm)


def test_stream_abandoned_half_way_leaves_no_span_open(spans, instrument, llm):
    baseline = run_async(llm, stream=True, stop_after=2)
    spans.clear()
    instrument(GoogleADKInstrumentor)

    events = run_async(llm, stream=True, stop_after=2)
    assert comparable(events) == comparable(baseline)
    assert _texts(events, partial=True) == ["It", " is"]
    spans.assert_tree(WEATHER_TREE)
    assert spans.one("invoke_workflow weather").attributes[semconv.XPANDER_TASK_INPUT] == QUESTION


def run_failing(llm, **kwargs) -> BaseException:
    with pytest.raises(Exception) as caught:
        run_sync(llm, **kwargs)
    return caught.value


def test_tool_error_is_recorded_and_reraised_unchanged(spans, instrument, llm):
    baseline = run_failing(llm, tools=(broken_weather,))
    spans.clear()
    instrument(GoogleADKInstrumentor)

    error = run_failing(llm, tools=(broken_weather,))
    assert (type(error), str(error)) == (type(baseline), str(baseline)) == (ValueError, "no weather for Paris")
    spans.assert_tree(f"""
        invoke_workflow weather INTERNAL
          invoke_agent weather INTERNAL
            {LLM_SPAN} CLIENT
            execute_tool broken_weather INTERNAL
    """)
    assert spans.one("execute_tool broken_weather").status.status_code == StatusCode.ERROR
    assert spans.one("invoke_workflow weather").status.status_code == StatusCode.ERROR


def test_llm_error_is_recorded_and_reraised_unchanged(spans, instrument, llm):
    baseline = run_failing(llm, model="scripted-error")
    spans.clear()
    instrument(GoogleADKInstrumentor)

    error = run_failing(llm, model="scripted-error")
    assert (type(error), str(error)) == (type(baseline), str(baseline))
    spans.assert_tree("""
        invoke_workflow weather INTERNAL
          invoke_agent weather INTERNAL
            generate_content openai/scripted-error CLIENT
    """)
    assert all(s.status.status_code == StatusCode.ERROR for s in spans.finished())


def run_agent_as_tool(llm) -> list:
    forecaster = make_agent(llm, model="scripted-answer", name="forecaster", tools=())
    coordinator = make_agent(llm, name="coordinator", tools=(AgentTool(agent=forecaster),))
    runner = InMemoryRunner(agent=coordinator, app_name="weather")
    session = asyncio.run(runner.session_service.create_session(app_name="weather", user_id="u"))
    return list(runner.run(user_id="u", session_id=session.id, new_message=_message()))


def test_agent_as_tool_is_a_child_agent_span(spans, instrument, llm):
    baseline = run_agent_as_tool(llm)
    spans.clear()
    instrument(GoogleADKInstrumentor)

    events = run_agent_as_tool(llm)
    assert comparable(events) == comparable(baseline)
    assert final_text(events) == FINAL_ANSWER
    spans.assert_tree("""
        invoke_workflow coordinator INTERNAL
          invoke_agent coordinator INTERNAL
            generate_content openai/scripted-weather CLIENT
            execute_tool forecaster INTERNAL
              invoke_workflow forecaster INTERNAL
                invoke_agent forecaster INTERNAL
                  generate_content openai/scripted-answer CLIENT
            generate_content openai/scripted-weather CLIENT
    """)
    inner = spans.one("generate_content openai/scripted-answer")
    assert (inner.attributes[semconv.USAGE_INPUT_TOKENS], inner.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (20, 8)
    assert spans.one("invoke_workflow coordinator").attributes[semconv.XPANDER_TASK_RESULT] == FINAL_ANSWER


def test_runs_in_threads_are_separate_traces(spans, instrument, llm):
    instrument(GoogleADKInstrumentor)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: final_text(run_sync(llm)), range(2)))

    assert results == [FINAL_ANSWER, FINAL_ANSWER]
    spans.assert_tree(WEATHER_TREE.strip() + "\n" + WEATHER_TREE.strip(), sort_roots=True)
    roots = spans.named("invoke_workflow weather")
    assert len({r.context.trace_id for r in roots}) == 2


def test_xpander_ids_from_scope_and_registered_name(spans, instrument, llm):
    instrument(GoogleADKInstrumentor)
    with xpander_otel.task(agent_id="agent-from-scope", task_id="task-9"):
        run_sync(llm)
    task_context.register_agent("registered", "agent-from-name")
    run_sync(llm, name="registered")

    for name in ("invoke_workflow weather", "invoke_agent weather"):
        attributes = spans.one(name).attributes
        assert (attributes[semconv.XPANDER_AGENT_ID], attributes[semconv.XPANDER_TASK_ID]) == (
            "agent-from-scope",
            "task-9",
        )
    assert spans.one("invoke_workflow registered").attributes[semconv.XPANDER_AGENT_ID] == "agent-from-name"
    spans.assert_all_ended()


def test_spans_go_to_the_given_tracer_provider_not_the_global_one(spans, llm):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = GoogleADKInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        run_sync(llm)
    finally:
        instrumentor.uninstrument()

    assert sorted(s.name for s in exporter.get_finished_spans()).count(LLM_SPAN) == 2
    assert spans.finished() == []


def test_double_instrument_and_uninstrument_restore_adk(spans, llm):
    original_tracer, original_run_async = tracing.tracer, Runner.run_async
    instrumentor = GoogleADKInstrumentor()
    instrumentor.instrument()
    instrumentor.instrument()
    try:
        assert isinstance(tracing.tracer, _native.NativeTracer)
        assert not isinstance(tracing.tracer.tracer, _native.NativeTracer)
        run_sync(llm)
        spans.assert_tree(WEATHER_TREE)
    finally:
        instrumentor.uninstrument()
        instrumentor.uninstrument()

    assert tracing.tracer is original_tracer and Runner.run_async is original_run_async
    import google.adk.telemetry.node_tracing as node_tracing

    assert node_tracing.tracer is original_tracer
    spans.clear()
    run_sync(llm)
    assert spans.named(LLM_SPAN)[0].kind == SpanKind.INTERNAL  # ADK's own, unchanged


def _boom(*args, **kwargs):
    raise RuntimeError("injected fault")


@pytest.mark.parametrize(
    "target",
    [
        (patch, "adjust_span"),  # span creation (kind and xpander ids)
        (patch, "remember_run_root"),  # attribute building at start
        (patch, "_record_event"),  # the event-stream observer
        (patch, "_start_run"),  # the stream wrapper's set-up
    ],
    ids=lambda t: t[1],
)
def test_faults_in_our_code_never_reach_the_user(spans, instrument, instrumentation_failures, llm, monkeypatch, target):
    baseline, baseline_stream = run_sync(llm), run_async(llm, stream=True, stop_after=2)
    monkeypatch.setattr(*target, _boom)
    instrument(GoogleADKInstrumentor)

    assert comparable(run_sync(llm)) == comparable(baseline)
    assert comparable(run_async(llm, stream=True, stop_after=2)) == comparable(baseline_stream)
    failures = instrumentation_failures()
    assert len(failures) == 1, failures
    assert "injected fault" in failures[0]


def test_task_content_can_be_turned_off(spans, instrument, llm, monkeypatch):
    monkeypatch.setenv("XPANDER_CAPTURE_TASK_CONTENT", "false")
    instrument(GoogleADKInstrumentor)
    run_sync(llm)
    attributes = spans.one("invoke_workflow weather").attributes
    assert semconv.XPANDER_TASK_INPUT not in attributes and semconv.XPANDER_TASK_RESULT not in attributes
    assert "sk-test" not in " ".join(str(v) for s in spans.finished() for v in s.attributes.values())
