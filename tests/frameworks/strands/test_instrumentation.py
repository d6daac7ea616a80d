"""Strands Agents against the scripted LLM: its native spans reach our provider, enriched, none left open.

Strands has no synchronous stream API: a sync call streams internally and hands the chunks to the
``callback_handler``, so "sync stream" here is a sync call with a handler collecting the chunks.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from strands import Agent, tool
from strands.models.openai import OpenAIModel
from strands.telemetry import tracer as strands_tracer

import xpander_otel
from xpander_otel import semconv, task_context
from xpander_otel.devserver.scripted_llm import FINAL_ANSWER
from xpander_otel.instrumentation import _native
from xpander_otel.instrumentation.strands import StrandsInstrumentor, patch

ANSWER = FINAL_ANSWER + "\n"

WEATHER_TREE = """
invoke_agent weather INTERNAL
  execute_event_loop_cycle INTERNAL
    chat scripted-weather CLIENT
    execute_tool get_weather INTERNAL
  execute_event_loop_cycle INTERNAL
    chat scripted-weather CLIENT
"""


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool
def broken_weather(city: str) -> str:
    """The weather in a city (always fails)."""
    raise ValueError(f"no weather for {city}")


def make_agent(llm, *, model="scripted-weather", name="weather", tools=(get_weather,), **kwargs) -> Agent:
    model = OpenAIModel(
        client_args={"api_key": "sk-test", "base_url": llm.base_url, "max_retries": 0}, model_id=model
    )
    return Agent(model=model, tools=list(tools), name=name, callback_handler=None, **kwargs)


def tool_call_ids(llm) -> list[str]:
    """The tool-call ids the scripted LLM handed out, as the agent sent them back."""
    ids: list[str] = []
    for request in llm.llm.requests:
        for message in request["messages"]:
            for call in message.get("tool_calls") or ():
                if call["id"] not in ids:
                    ids.append(call["id"])
    return ids


def assert_weather_usage(spans) -> None:
    chats = spans.named("chat scripted-weather")
    assert [(c.attributes[semconv.USAGE_INPUT_TOKENS], c.attributes[semconv.USAGE_OUTPUT_TOKENS]) for c in chats] == [
        (50, 10),
        (80, 12),
    ]
    agent = spans.one("invoke_agent weather")
    assert agent.attributes[semconv.USAGE_INPUT_TOKENS] == 130
    assert agent.attributes[semconv.USAGE_OUTPUT_TOKENS] == 22


def run_sync(llm, **kwargs) -> str:
    return str(make_agent(llm, **kwargs)("What is the weather in Paris?"))


def run_async(llm, **kwargs) -> str:
    return str(asyncio.run(make_agent(llm, **kwargs).invoke_async("What is the weather in Paris?")))


def run_sync_with_handler(llm) -> list[str]:
    chunks: list[str] = []

    def handler(**event):
        if "data" in event:
            chunks.append(event["data"])

    agent = make_agent(llm)
    agent.callback_handler = handler
    agent("What is the weather in Paris?")
    return chunks


def run_async_stream(llm, *, stop_after: int | None = None) -> list[str]:
    async def consume() -> list[str]:
        chunks: list[str] = []
        async for event in make_agent(llm).stream_async("What is the weather in Paris?"):
            if "data" in event:
                chunks.append(event["data"])
                if stop_after is not None and len(chunks) == stop_after:
                    break  # abandoned: the generator is dropped, not closed
        return chunks

    return asyncio.run(consume())


def test_sync_run(spans, instrument, llm):
    baseline = run_sync(llm)
    spans.clear()
    instrument(StrandsInstrumentor)
    llm.llm.requests.clear()

    assert run_sync(llm) == baseline == ANSWER
    spans.assert_tree(WEATHER_TREE)
    assert_weather_usage(spans)
    tool_span = spans.one("execute_tool get_weather")
    assert tool_span.attributes[semconv.TOOL_NAME] == "get_weather"
    assert [tool_span.attributes[semconv.TOOL_CALL_ID]] == tool_call_ids(llm)
    chat = spans.named("chat scripted-weather")[0]
    assert chat.attributes[semconv.OPERATION_NAME] == "chat"
    assert chat.attributes[semconv.RESPONSE_FINISH_REASONS] == ("tool_use",)
    agent = spans.one("invoke_agent weather")
    assert agent.attributes[semconv.XPANDER_TASK_INPUT] == "What is the weather in Paris?"
    assert agent.attributes[semconv.XPANDER_TASK_RESULT] == ANSWER


def test_async_run(spans, instrument, llm):
    baseline = run_async(llm)
    spans.clear()
    instrument(StrandsInstrumentor)

    assert run_async(llm) == baseline == ANSWER
    spans.assert_tree(WEATHER_TREE)
    assert_weather_usage(spans)


def test_sync_stream_through_callback_handler(spans, instrument, llm):
    baseline = run_sync_with_handler(llm)
    spans.clear()
    instrument(StrandsInstrumentor)

    chunks = run_sync_with_handler(llm)
    assert chunks == baseline
    assert "".join(chunks) == FINAL_ANSWER
    spans.assert_tree(WEATHER_TREE)
    assert_weather_usage(spans)


def test_async_stream(spans, instrument, llm):
    baseline = run_async_stream(llm)
    spans.clear()
    instrument(StrandsInstrumentor)

    assert run_async_stream(llm) == baseline
    assert "".join(baseline) == FINAL_ANSWER
    spans.assert_tree(WEATHER_TREE)
    assert_weather_usage(spans)


def test_stream_abandoned_half_way_leaves_no_span_open(spans, instrument, llm):
    baseline = run_async_stream(llm, stop_after=2)
    spans.clear()
    instrument(StrandsInstrumentor)

    assert run_async_stream(llm, stop_after=2) == baseline == ["It", " is"]
    # Strands itself leaves the cycle and chat spans open here; the instrumentor ends them.
    spans.assert_tree("""
        invoke_agent weather INTERNAL
          execute_event_loop_cycle INTERNAL
            chat scripted-weather CLIENT
            execute_tool get_weather INTERNAL
          execute_event_loop_cycle INTERNAL
            chat scripted-weather CLIENT
    """)
    assert spans.one("invoke_agent weather").status.status_code == StatusCode.UNSET
    last_chat = spans.named("chat scripted-weather")[-1]
    assert last_chat.attributes["strands.cancellation.type"] in {"GeneratorExit", "CancelledError"}


def test_tool_error_is_recorded_and_the_run_goes_on(spans, instrument, llm):
    baseline = run_sync(llm, tools=(broken_weather,))
    spans.clear()
    instrument(StrandsInstrumentor)

    assert run_sync(llm, tools=(broken_weather,)) == baseline
    spans.assert_tree(WEATHER_TREE.replace("get_weather", "broken_weather"))
    tool_span = spans.one("execute_tool broken_weather")
    assert tool_span.status.status_code == StatusCode.ERROR
    assert "no weather for Paris" in tool_span.status.description


def run_error(llm) -> BaseException:
    with pytest.raises(Exception) as caught:
        make_agent(llm, model="scripted-error")("What is the weather in Paris?")
    return caught.value


def test_llm_error_is_recorded_and_reraised_unchanged(spans, instrument, llm):
    baseline = run_error(llm)
    spans.clear()
    instrument(StrandsInstrumentor)

    error = run_error(llm)
    assert type(error) is type(baseline)
    assert str(error) == str(baseline)
    spans.assert_tree("""
        invoke_agent weather INTERNAL
          execute_event_loop_cycle INTERNAL
            chat scripted-error CLIENT
    """)
    assert all(s.status.status_code == StatusCode.ERROR for s in spans.finished())


def make_agent_as_tool(llm):
    @tool
    def ask_forecaster(question: str) -> str:
        """Ask the forecasting agent."""
        return str(make_agent(llm, model="scripted-answer", name="forecaster", tools=())(question))

    return make_agent(llm, name="coordinator", tools=(ask_forecaster,))


def test_agent_as_tool_is_a_child_agent_span(spans, instrument, llm):
    baseline = str(make_agent_as_tool(llm)("What is the weather in Paris?"))
    spans.clear()
    instrument(StrandsInstrumentor)

    assert str(make_agent_as_tool(llm)("What is the weather in Paris?")) == baseline == ANSWER
    spans.assert_tree("""
        invoke_agent coordinator INTERNAL
          execute_event_loop_cycle INTERNAL
            chat scripted-weather CLIENT
            execute_tool ask_forecaster INTERNAL
              invoke_agent forecaster INTERNAL
                execute_event_loop_cycle INTERNAL
                  chat scripted-answer CLIENT
          execute_event_loop_cycle INTERNAL
            chat scripted-weather CLIENT
    """)
    inner = spans.one("invoke_agent forecaster")
    assert (inner.attributes[semconv.USAGE_INPUT_TOKENS], inner.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (20, 8)


def test_runs_in_threads_are_separate_traces(spans, instrument, llm):
    instrument(StrandsInstrumentor)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: run_sync(llm), range(2)))

    assert results == [ANSWER, ANSWER]
    spans.assert_tree(WEATHER_TREE.strip() + "\n" + WEATHER_TREE.strip(), sort_roots=True)
    roots = spans.named("invoke_agent weather")
    assert len({r.context.trace_id for r in roots}) == 2
    for root in roots:
        chats = [s for s in spans.named("chat scripted-weather") if s.context.trace_id == root.context.trace_id]
        assert sum(c.attributes[semconv.USAGE_INPUT_TOKENS] for c in chats) == 130


def test_xpander_agent_id_from_trace_attributes_scope_and_name(spans, instrument, llm):
    instrument(StrandsInstrumentor)
    run_sync(llm, trace_attributes={semconv.XPANDER_AGENT_ID: "agent-from-builder"})
    with xpander_otel.task(agent_id="agent-from-scope", task_id="task-9"):
        run_sync(llm, name="scoped")
    task_context.register_agent("registered", "agent-from-name")
    run_sync(llm, name="registered")

    assert spans.one("invoke_agent weather").attributes[semconv.XPANDER_AGENT_ID] == "agent-from-builder"
    scoped = spans.one("invoke_agent scoped").attributes
    assert (scoped[semconv.XPANDER_AGENT_ID], scoped[semconv.XPANDER_TASK_ID]) == ("agent-from-scope", "task-9")
    assert spans.one("invoke_agent registered").attributes[semconv.XPANDER_AGENT_ID] == "agent-from-name"
    spans.assert_all_ended()


def test_spans_go_to_the_given_tracer_provider_not_the_global_one(spans, llm):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = StrandsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        run_sync(llm)
    finally:
        instrumentor.uninstrument()

    assert [s.name for s in exporter.get_finished_spans()].count("chat scripted-weather") == 2
    assert spans.finished() == []


def test_double_instrument_and_uninstrument_restore_strands(spans, llm):
    originals = {t.name: getattr(strands_tracer.Tracer, t.name.split(".")[1]) for t in patch.TARGETS}
    original_tracer = strands_tracer.get_tracer().tracer
    instrumentor = StrandsInstrumentor()
    instrumentor.instrument()
    instrumentor.instrument()
    try:
        assert isinstance(strands_tracer.get_tracer().tracer, _native.NativeTracer)
        assert not isinstance(strands_tracer.get_tracer().tracer.tracer, _native.NativeTracer)
        run_sync(llm)
        spans.assert_tree(WEATHER_TREE)
    finally:
        instrumentor.uninstrument()
        instrumentor.uninstrument()

    assert {t.name: getattr(strands_tracer.Tracer, t.name.split(".")[1]) for t in patch.TARGETS} == originals
    assert strands_tracer.get_tracer().tracer is original_tracer
    spans.clear()
    run_sync(llm)
    chat = spans.named("chat")[0]
    assert chat.kind == SpanKind.INTERNAL  # Strands' own, unchanged


def _boom(*args, **kwargs):
    raise RuntimeError("injected fault")


@pytest.mark.parametrize(
    "target",
    [
        (patch, "client_kind_for_chat"),  # span creation (kind adjustment)
        (_native.NativeTracer, "_remember"),  # span bookkeeping
        (patch, "_enrich_agent_span"),  # attribute building at start
        (patch, "_record_agent_result"),  # attribute building at the end
        (patch, "_end_children"),  # the abandoned-stream clean-up
    ],
    ids=lambda t: t[1],
)
def test_faults_in_our_code_never_reach_the_user(spans, instrument, instrumentation_failures, llm, monkeypatch, target):
    baseline_result, baseline_chunks = run_sync(llm), run_async_stream(llm, stop_after=2)
    monkeypatch.setattr(*target, _boom)
    instrument(StrandsInstrumentor)

    assert run_sync(llm) == baseline_result
    assert run_sync(llm) == baseline_result
    assert run_async_stream(llm, stop_after=2) == baseline_chunks
    failures = instrumentation_failures()
    assert len(failures) == 1, failures
    assert "injected fault" in failures[0]


def test_concurrent_agents_share_one_native_tracer_safely(spans, instrument, llm):
    instrument(StrandsInstrumentor)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            assert run_sync(llm, model="scripted-answer", tools=()) == ANSWER
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(spans.by_prefix("invoke_agent weather")) == 4
    spans.assert_all_ended()


def test_task_content_can_be_turned_off(spans, instrument, llm, monkeypatch):
    monkeypatch.setenv("XPANDER_CAPTURE_TASK_CONTENT", "false")
    instrument(StrandsInstrumentor)
    run_sync(llm)
    attributes = spans.one("invoke_agent weather").attributes
    assert semconv.XPANDER_TASK_INPUT not in attributes and semconv.XPANDER_TASK_RESULT not in attributes
    assert "sk-test" not in " ".join(str(v) for s in spans.finished() for v in s.attributes.values())
