"""LangChain / LangGraph against the scripted LLM: ``create_agent`` graphs with a ChatOpenAI model.

Every mode exists here: ``invoke``, ``ainvoke``, ``stream`` and ``astream`` (tokens only with
``stream_mode`` including ``"messages"``).
"""

from __future__ import annotations

import asyncio
import gc
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
from langchain.agents import create_agent
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.tools import BaseTool, StructuredTool, ToolException, tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.pregel.main import Pregel
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import xpander_otel
from xpander_otel import semconv, task_context
from xpander_otel.devserver.scripted_llm import FINAL_ANSWER
from xpander_otel.instrumentation.langchain import LangChainInstrumentor, patch

QUESTION = "What is the weather in Paris?"
INPUT = {"messages": [{"role": "user", "content": QUESTION}]}
WEATHER_TREE = """
invoke_agent weather INTERNAL
  chat scripted-weather CLIENT
  execute_tool get_weather INTERNAL
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


def make_model(llm, model="scripted-weather") -> ChatOpenAI:
    # Fresh HTTP clients (the openai SDK's httpx2) per model: langchain-openai's shared async one is bound
    # to the first event loop (each asyncio.run() has its own), and a shared sync one may reuse a keep-alive
    # connection the server has just closed.
    return ChatOpenAI(
        model=model,
        base_url=llm.base_url,
        api_key="sk-test",
        stream_usage=True,
        max_retries=0,
        http_client=httpx2.Client(),
        http_async_client=httpx2.AsyncClient(),
    )


def make_agent(llm, *, model="scripted-weather", name="weather", tools=(get_weather,)):
    return create_agent(make_model(llm, model), tools=list(tools), name=name)


def last_text(state) -> str:
    return state["messages"][-1].content


def comparable_state(state) -> list:
    """The messages a run produced, without per-run ids."""
    return [(m.type, m.content, [c["name"] for c in getattr(m, "tool_calls", ())]) for m in state["messages"]]


def comparable_chunk(chunk):
    """A ``messages``-mode chunk (message, metadata) or an ``updates`` chunk, without per-run ids."""
    if isinstance(chunk, tuple) and len(chunk) == 2 and isinstance(chunk[0], str):
        return (chunk[0], comparable_chunk(chunk[1]))
    if isinstance(chunk, tuple):
        message, metadata = chunk
        return (type(message).__name__, message.content, metadata.get("langgraph_node"))
    return {node: comparable_state(update) for node, update in chunk.items()}


def assert_weather_spans(spans, llm, *, agent="weather") -> None:
    chats = spans.named("chat scripted-weather")
    assert [(c.attributes[semconv.USAGE_INPUT_TOKENS], c.attributes[semconv.USAGE_OUTPUT_TOKENS]) for c in chats] == [
        (50, 10),
        (80, 12),
    ]
    assert [c.attributes[semconv.PROVIDER_NAME] for c in chats] == ["openai", "openai"]
    assert [c.attributes[semconv.RESPONSE_FINISH_REASONS] for c in chats] == [("tool_calls",), ("stop",)]
    root = spans.one(f"invoke_agent {agent}")
    assert (root.attributes[semconv.USAGE_INPUT_TOKENS], root.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (130, 22)
    assert root.attributes[semconv.XPANDER_TASK_INPUT] == QUESTION
    assert root.attributes[semconv.REQUEST_MODEL] == "scripted-weather"
    assert root.attributes[semconv.XPANDER_TASK_RESULT] == FINAL_ANSWER
    tool_span = spans.one("execute_tool get_weather")
    assert tool_span.attributes[semconv.TOOL_NAME] == "get_weather"
    ids = [c["id"] for r in llm.llm.requests for m in r["messages"] for c in m.get("tool_calls") or ()]
    assert ids and {tool_span.attributes[semconv.TOOL_CALL_ID]} == set(ids)


def run_sync(llm, **kwargs):
    return make_agent(llm, **kwargs).invoke(INPUT)


def run_async(llm, **kwargs):
    return asyncio.run(make_agent(llm, **kwargs).ainvoke(INPUT))


def model_tokens(chunks) -> list[str]:
    return [c[0].content for c in chunks if c[1]["langgraph_node"] == "model" and c[0].content]


def run_stream(llm, *, stop_after=None, stream_mode="messages"):
    chunks = []
    for chunk in make_agent(llm).stream(INPUT, stream_mode=stream_mode):
        chunks.append(chunk)
        if stop_after is not None and len(model_tokens(chunks)) >= stop_after:
            break  # abandoned: dropped without close()
    return chunks


def run_astream(llm, stream_mode=("messages", "updates")):
    async def consume():
        return [c async for c in make_agent(llm).astream(INPUT, stream_mode=list(stream_mode))]

    return asyncio.run(consume())


def test_sync_invoke(spans, instrument, llm):
    baseline = run_sync(llm)
    spans.clear()
    instrument(LangChainInstrumentor)
    llm.llm.requests.clear()

    state = run_sync(llm)
    assert comparable_state(state) == comparable_state(baseline)
    assert last_text(state) == FINAL_ANSWER
    spans.assert_tree(WEATHER_TREE)
    assert_weather_spans(spans, llm)
    assert spans.named("chat scripted-weather")[0].kind == SpanKind.CLIENT


def test_async_invoke(spans, instrument, llm):
    baseline = run_async(llm)
    spans.clear()
    instrument(LangChainInstrumentor)
    llm.llm.requests.clear()

    assert comparable_state(run_async(llm)) == comparable_state(baseline)
    spans.assert_tree(WEATHER_TREE)
    assert_weather_spans(spans, llm)


def test_sync_stream_of_tokens(spans, instrument, llm):
    baseline = run_stream(llm)
    spans.clear()
    instrument(LangChainInstrumentor)
    llm.llm.requests.clear()

    chunks = run_stream(llm)
    assert [comparable_chunk(c) for c in chunks] == [comparable_chunk(c) for c in baseline]
    assert "".join(model_tokens(chunks)) == FINAL_ANSWER
    assert all(r["stream"] for r in llm.llm.requests)
    spans.assert_tree(WEATHER_TREE)
    # Tokens only: the final text is not in a "messages" chunk as a whole, so no task result there.
    chats = spans.named("chat scripted-weather")
    assert [c.attributes[semconv.USAGE_OUTPUT_TOKENS] for c in chats] == [10, 12]


def test_async_stream_of_tokens_and_updates(spans, instrument, llm):
    baseline = run_astream(llm)
    spans.clear()
    instrument(LangChainInstrumentor)
    llm.llm.requests.clear()

    chunks = run_astream(llm)
    assert [comparable_chunk(c) for c in chunks] == [comparable_chunk(c) for c in baseline]
    spans.assert_tree(WEATHER_TREE)
    assert_weather_spans(spans, llm)


def test_stream_abandoned_half_way_leaves_no_span_open(spans, instrument, llm):
    baseline = run_stream(llm, stop_after=2)
    spans.clear()
    instrument(LangChainInstrumentor)

    chunks = run_stream(llm, stop_after=2)
    assert [comparable_chunk(c) for c in chunks] == [comparable_chunk(c) for c in baseline]
    assert model_tokens(chunks) == ["It", " is"]
    gc.collect()
    spans.assert_tree(WEATHER_TREE)
    assert spans.one("invoke_agent weather").status.status_code == StatusCode.UNSET


def run_failing(run, llm, **kwargs) -> BaseException:
    with pytest.raises(Exception) as caught:
        run(llm, **kwargs)
    return caught.value


def test_tool_error_is_recorded_and_reraised_unchanged(spans, instrument, llm):
    baseline = run_failing(run_sync, llm, tools=(broken_weather,))
    spans.clear()
    instrument(LangChainInstrumentor)

    error = run_failing(run_sync, llm, tools=(broken_weather,))
    assert (type(error), str(error)) == (type(baseline), str(baseline)) == (ValueError, "no weather for Paris")
    spans.assert_tree("""
        invoke_agent weather INTERNAL
          chat scripted-weather CLIENT
          execute_tool broken_weather INTERNAL
    """)
    for name in ("execute_tool broken_weather", "invoke_agent weather"):
        span = spans.one(name)
        assert span.status.status_code == StatusCode.ERROR
        assert span.attributes["error.type"] == "ValueError"


def test_tool_error_handled_by_the_tool_marks_only_its_span(spans, instrument, llm):
    def weather(city: str) -> str:
        """The weather in a city (always fails)."""
        raise ToolException(f"no weather for {city}")

    handled = StructuredTool.from_function(weather, name="get_weather", handle_tool_error=True)
    baseline = run_sync(llm, tools=(handled,))
    spans.clear()
    instrument(LangChainInstrumentor)

    state = run_sync(llm, tools=(handled,))
    assert comparable_state(state) == comparable_state(baseline)
    assert state["messages"][2].content == "no weather for Paris"
    spans.assert_tree(WEATHER_TREE)
    tool_span = spans.one("execute_tool get_weather")
    assert tool_span.status.status_code == StatusCode.ERROR
    assert tool_span.attributes["error.type"] == "tool_error"
    assert spans.one("invoke_agent weather").status.status_code == StatusCode.UNSET


@pytest.mark.parametrize("run", [run_sync, run_async], ids=["sync", "async"])
def test_llm_error_is_recorded_and_reraised_unchanged(spans, instrument, llm, run):
    baseline = run_failing(run, llm, model="scripted-error")
    spans.clear()
    instrument(LangChainInstrumentor)

    error = run_failing(run, llm, model="scripted-error")
    assert (type(error), str(error)) == (type(baseline), str(baseline))
    assert "scripted failure" in str(error)
    spans.assert_tree("""
        invoke_agent weather INTERNAL
          chat scripted-error CLIENT
    """)
    assert all(s.status.status_code == StatusCode.ERROR for s in spans.finished())


def make_coordinator(llm):
    forecaster = make_agent(llm, model="scripted-answer", name="forecaster", tools=())

    @tool
    def ask_forecaster(question: str) -> str:
        """Ask the forecasting agent."""
        return last_text(forecaster.invoke({"messages": [{"role": "user", "content": question}]}))

    return create_agent(make_model(llm), tools=[ask_forecaster], name="coordinator")


def test_agent_as_tool_is_a_child_agent_span(spans, instrument, llm):
    baseline = make_coordinator(llm).invoke(INPUT)
    spans.clear()
    instrument(LangChainInstrumentor)

    state = make_coordinator(llm).invoke(INPUT)
    assert comparable_state(state) == comparable_state(baseline)
    spans.assert_tree("""
        invoke_agent coordinator INTERNAL
          chat scripted-weather CLIENT
          execute_tool ask_forecaster INTERNAL
            invoke_agent forecaster INTERNAL
              chat scripted-answer CLIENT
          chat scripted-weather CLIENT
    """)
    outer, inner = spans.one("invoke_agent coordinator"), spans.one("invoke_agent forecaster")
    assert (inner.attributes[semconv.USAGE_INPUT_TOKENS], inner.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (20, 8)
    # The outer run's usage includes its sub-agent's.
    assert (outer.attributes[semconv.USAGE_INPUT_TOKENS], outer.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (150, 30)


def make_workflow(llm):
    graph = StateGraph(MessagesState)
    graph.add_node("weather", make_agent(llm))
    graph.add_edge(START, "weather")
    return graph.compile(name="workflow")


def test_agent_as_subgraph_node_is_a_child_agent_span(spans, instrument, llm):
    baseline = make_workflow(llm).invoke(INPUT)
    spans.clear()
    instrument(LangChainInstrumentor)

    state = make_workflow(llm).invoke(INPUT)
    assert comparable_state(state) == comparable_state(baseline)
    spans.assert_tree("""
        invoke_agent workflow INTERNAL
          invoke_agent weather INTERNAL
            chat scripted-weather CLIENT
            execute_tool get_weather INTERNAL
            chat scripted-weather CLIENT
    """)


def test_runs_in_threads_are_separate_traces(spans, instrument, llm):
    instrument(LangChainInstrumentor)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: last_text(run_sync(llm)), range(2)))

    assert results == [FINAL_ANSWER, FINAL_ANSWER]
    spans.assert_tree(WEATHER_TREE.strip() + "\n" + WEATHER_TREE.strip(), sort_roots=True)
    roots = spans.named("invoke_agent weather")
    assert len({r.context.trace_id for r in roots}) == 2
    assert [r.attributes[semconv.USAGE_INPUT_TOKENS] for r in roots] == [130, 130]


def test_xpander_ids_from_metadata_scope_and_name(spans, instrument, llm):
    instrument(LangChainInstrumentor)
    make_agent(llm).invoke(INPUT, {"metadata": {task_context.METADATA_AGENT_ID: "agent-from-metadata"}})
    with xpander_otel.task(agent_id="agent-from-scope", task_id="task-9"):
        make_agent(llm, name="scoped").invoke(INPUT, {"configurable": {"thread_id": "thread-1"}})
    task_context.register_agent("registered", "agent-from-name")
    make_agent(llm, name="registered").invoke(INPUT)

    assert spans.one("invoke_agent weather").attributes[semconv.XPANDER_AGENT_ID] == "agent-from-metadata"
    scoped = spans.one("invoke_agent scoped").attributes
    assert (scoped[semconv.XPANDER_AGENT_ID], scoped[semconv.XPANDER_TASK_ID]) == ("agent-from-scope", "task-9")
    assert scoped[semconv.CONVERSATION_ID] == "thread-1"
    assert spans.one("invoke_agent registered").attributes[semconv.XPANDER_AGENT_ID] == "agent-from-name"
    spans.assert_all_ended()


def test_direct_chat_model_calls(spans, instrument, llm):
    instrument(LangChainInstrumentor)
    model = make_model(llm, "scripted-answer")
    assert model.invoke(QUESTION).content == FINAL_ANSWER
    assert "".join(c.content for c in model.stream(QUESTION)) == FINAL_ANSWER

    async def both():
        return (await model.ainvoke(QUESTION)).content, "".join([c.content async for c in model.astream(QUESTION)])

    assert asyncio.run(both()) == (FINAL_ANSWER, FINAL_ANSWER)
    spans.assert_tree("\n".join(["chat scripted-answer CLIENT"] * 4))
    assert [(s.attributes[semconv.USAGE_INPUT_TOKENS], s.attributes[semconv.USAGE_OUTPUT_TOKENS])
            for s in spans.finished()] == [(20, 8)] * 4


def test_spans_go_to_the_given_tracer_provider(spans, llm):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        run_sync(llm)
    finally:
        instrumentor.uninstrument()

    assert [s.name for s in exporter.get_finished_spans()].count("chat scripted-weather") == 2
    assert spans.finished() == []


WRAPPED = [
    (BaseChatModel, "_generate_with_cache"),
    (BaseChatModel, "_agenerate_with_cache"),
    (BaseChatModel, "stream"),
    (BaseChatModel, "astream"),
    (BaseTool, "run"),
    (BaseTool, "arun"),
    (Pregel, "invoke"),
    (Pregel, "ainvoke"),
    (Pregel, "stream"),
    (Pregel, "astream"),
]


def test_double_instrument_and_uninstrument_restore_the_originals(spans, llm):
    originals = [getattr(cls, name) for cls, name in WRAPPED]
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument()
    instrumentor.instrument()
    try:
        assert all(getattr(cls, name).__wrapped__ is original for (cls, name), original in zip(WRAPPED, originals, strict=True))
        run_sync(llm)
        spans.assert_tree(WEATHER_TREE)
    finally:
        instrumentor.uninstrument()
        instrumentor.uninstrument()

    assert [getattr(cls, name) for cls, name in WRAPPED] == originals
    spans.clear()
    run_sync(llm)
    assert spans.finished() == []


def _boom(*args, **kwargs):
    raise RuntimeError("injected fault")


class _BrokenTracer:
    def start_span(self, *args, **kwargs):
        raise RuntimeError("injected fault")


class _BrokenTracerProvider(TracerProvider):
    def get_tracer(self, *args, **kwargs):
        return _BrokenTracer()


@pytest.mark.parametrize(
    ("target", "places"),
    [
        (None, 3),  # span creation (a tracer that raises): agent, chat and tool spans
        ((patch, "_graph_invocation", _boom), 1),  # attribute building (agent)
        ((patch, "_chat_invocation", _boom), 1),  # attribute building (chat)
        ((patch, "_record_chat_result", _boom), 1),  # result handling
        ((patch, "_record_graph_chunk", _boom), 1),  # the stream wrapper's chunk handling
        ((patch, "_streams_natively", _boom), 1),  # the stream wrapper's set-up
    ],
    ids=lambda t: t[1] if isinstance(t, tuple) else ("start_span" if t is None else str(t)),
)
def test_faults_in_our_code_never_reach_the_user(
    spans, instrument, instrumentation_failures, llm, monkeypatch, target, places
):
    baseline = comparable_state(run_sync(llm))
    baseline_chunks = [comparable_chunk(c) for c in run_stream(llm, stream_mode="updates")]
    baseline_error = run_failing(run_sync, llm, tools=(broken_weather,))
    if target is None:
        LangChainInstrumentor().instrument(tracer_provider=_BrokenTracerProvider())
    else:
        instrument(LangChainInstrumentor)
        monkeypatch.setattr(*target)
    try:
        _run_scenarios_twice(llm, baseline, baseline_chunks, baseline_error)
    finally:
        LangChainInstrumentor().uninstrument()
    # Each failing place is logged once, however often it fails.
    failures = instrumentation_failures()
    assert len(failures) == places, failures
    assert all("injected fault" in f for f in failures)


def _run_scenarios_twice(llm, baseline, baseline_chunks, baseline_error) -> None:
    model = make_model(llm, "scripted-answer")
    for _ in range(2):
        assert comparable_state(run_sync(llm)) == baseline
        assert [comparable_chunk(c) for c in run_stream(llm, stream_mode="updates")] == baseline_chunks
        assert "".join(c.content for c in model.stream(QUESTION)) == FINAL_ANSWER
        error = run_failing(run_sync, llm, tools=(broken_weather,))
        assert (type(error), str(error)) == (type(baseline_error), str(baseline_error))


def _all_attribute_text(spans) -> str:
    return " ".join(str(v) for s in spans.finished() for v in s.attributes.values())


def test_message_content_only_when_capture_is_on(spans, instrument, llm, monkeypatch):
    instrument(LangChainInstrumentor)
    run_sync(llm)
    chat, tool_span = spans.named("chat scripted-weather")[0], spans.one("execute_tool get_weather")
    assert semconv.INPUT_MESSAGES not in chat.attributes and semconv.OUTPUT_MESSAGES not in chat.attributes
    assert semconv.TOOL_CALL_ARGUMENTS not in tool_span.attributes
    # The task's input and result are on by default (a task report needs them).
    assert spans.one("invoke_agent weather").attributes[semconv.XPANDER_TASK_RESULT] == FINAL_ANSWER

    spans.clear()
    LangChainInstrumentor().uninstrument()
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    monkeypatch.setenv("XPANDER_CAPTURE_TASK_CONTENT", "false")
    instrument(LangChainInstrumentor)
    run_sync(llm)
    first, last = spans.named("chat scripted-weather")
    assert QUESTION in first.attributes[semconv.INPUT_MESSAGES]
    assert FINAL_ANSWER in last.attributes[semconv.OUTPUT_MESSAGES]
    tool_span = spans.one("execute_tool get_weather")
    assert "Paris" in tool_span.attributes[semconv.TOOL_CALL_ARGUMENTS]
    assert tool_span.attributes[semconv.TOOL_CALL_RESULT] == "sunny in Paris"
    assert semconv.XPANDER_TASK_RESULT not in spans.one("invoke_agent weather").attributes
    assert "sk-test" not in _all_attribute_text(spans)  # the model's API key never reaches a span
