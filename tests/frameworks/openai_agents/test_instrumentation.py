"""OpenAIAgentsInstrumentor on real SDK agents against the scripted LLM, through both model APIs
(Responses, the default, and Chat Completions). The SDK streams only through ``Runner.run_streamed``
(async), so there is no sync-stream scenario here."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest
from _openai_agents_instrumentation_support import (
    APIS,
    FINAL_ANSWER,
    agent,
    broken_weather,
    event_kinds,
    manager,
    outcome,
    triage,
)
from agents import Runner
from agents.tracing import TracingProcessor, add_trace_processor
from openai import InternalServerError
from opentelemetry.trace import StatusCode

from xpander_otel import semconv, task_context
from xpander_otel.instrumentation.openai_agents import OpenAIAgentsInstrumentor

AGENT_TREE = """
invoke_agent weather INTERNAL
  chat scripted-weather CLIENT
  execute_tool get_weather INTERNAL
  chat scripted-weather CLIENT
"""


@pytest.fixture
def instrumented(instrument):
    return instrument(OpenAIAgentsInstrumentor)


def _usage(span) -> tuple[int, int]:
    return span.attributes[semconv.USAGE_INPUT_TOKENS], span.attributes[semconv.USAGE_OUTPUT_TOKENS]


def _tool_call_id_sent_back(llm) -> str:
    """The tool call id the LLM issued, as the agent sent it back in its second request."""
    for item in llm.llm.requests[1]["messages"]:
        if item.get("type") == "function_call_output":  # Responses API
            return item["call_id"]
        if item.get("role") == "tool":  # Chat Completions
            return item["tool_call_id"]
    raise AssertionError("no tool output in the second request")


def assert_weather_run(spans, llm) -> None:
    first, second = spans.named("chat scripted-weather")
    assert (_usage(first), _usage(second)) == ((50, 10), (80, 12))
    assert first.attributes[semconv.REQUEST_MODEL] == "scripted-weather"
    tool = spans.one("execute_tool get_weather")
    assert tool.attributes[semconv.TOOL_NAME] == "get_weather"
    assert tool.attributes[semconv.TOOL_CALL_ID] == _tool_call_id_sent_back(llm)
    root = spans.one("invoke_agent weather")
    assert _usage(root) == (130, 22)
    assert root.attributes[semconv.XPANDER_TASK_RESULT] == FINAL_ANSWER
    assert root.status.status_code == StatusCode.UNSET


@pytest.mark.parametrize("api", APIS)
def test_sync_run(instrumented, spans, llm, api):
    result = Runner.run_sync(agent(llm, api), "What is the weather in Paris?")

    assert result.final_output == FINAL_ANSWER
    spans.assert_tree(AGENT_TREE)
    assert_weather_run(spans, llm)
    assert spans.one("invoke_agent weather").attributes[semconv.XPANDER_TASK_INPUT] == "What is the weather in Paris?"
    paths = {"responses": "/v1/responses", "chat_completions": "/v1/chat/completions"}
    assert [r["path"] for r in llm.llm.requests] == [paths[api]] * 2


@pytest.mark.parametrize("api", APIS)
def test_async_run(instrumented, spans, llm, api):
    result = asyncio.run(Runner.run(agent(llm, api), "weather?"))

    assert result.final_output == FINAL_ANSWER
    spans.assert_tree(AGENT_TREE)
    assert_weather_run(spans, llm)


@pytest.mark.parametrize("api", APIS)
def test_async_stream(instrumented, spans, llm, api):
    async def run():
        result = Runner.run_streamed(agent(llm, api), "weather?")
        deltas = [e.data.delta async for e in result.stream_events()
                  if e.type == "raw_response_event" and e.data.type in ("response.output_text.delta",)]
        return result, deltas

    result, deltas = asyncio.run(run())

    assert result.final_output == FINAL_ANSWER
    assert "".join(deltas) == FINAL_ANSWER
    assert all(r["stream"] for r in llm.llm.requests)
    spans.assert_tree(AGENT_TREE)
    assert_weather_run(spans, llm)


@pytest.mark.parametrize("cancel", [False, True])
def test_async_stream_abandoned_half_way(instrumented, spans, llm, cancel):
    async def run():
        result = Runner.run_streamed(agent(llm), "weather?")
        async for event in result.stream_events():
            if event.type == "run_item_stream_event" and event.item.type == "tool_call_output_item":
                break
        if cancel:
            result.cancel()
        return result

    asyncio.run(run())  # the run's task is finished, or cancelled when the loop closes
    gc.collect()

    root = spans.one("invoke_agent weather")
    spans.assert_all_ended()
    assert [s.name for s in spans.finished() if s.parent and s.parent.span_id == root.context.span_id][:2] == [
        "chat scripted-weather", "execute_tool get_weather"]


@pytest.mark.parametrize("api", APIS)
def test_tool_raises(instrumented, spans, llm, api):
    result = Runner.run_sync(agent(llm, api, tools=[broken_weather]), "weather?")

    assert result.final_output == FINAL_ANSWER  # the SDK hands the tool's error to the model, which answers
    spans.assert_tree(AGENT_TREE.replace("get_weather", "broken_weather"))
    tool = spans.one("execute_tool broken_weather")
    assert tool.status.status_code == StatusCode.ERROR
    assert tool.attributes["error.type"] == "ToolError"
    assert spans.one("invoke_agent weather").status.status_code == StatusCode.UNSET


@pytest.mark.parametrize("api", APIS)
def test_llm_error(instrumented, spans, llm, api):
    with pytest.raises(InternalServerError):
        Runner.run_sync(agent(llm, api, model_name="scripted-error"), "weather?")

    spans.assert_tree("""
        invoke_agent weather INTERNAL
          chat scripted-error CLIENT
    """)
    root = spans.one("invoke_agent weather")
    assert root.status.status_code == StatusCode.ERROR
    assert root.attributes["error.type"] == "InternalServerError"
    assert spans.one("chat scripted-error").status.status_code == StatusCode.ERROR


def test_llm_error_while_streaming(instrumented, spans, llm):
    async def run():
        result = Runner.run_streamed(agent(llm, model_name="scripted-error"), "weather?")
        async for _ in result.stream_events():
            pass

    with pytest.raises(InternalServerError):
        asyncio.run(run())

    spans.assert_tree("""
        invoke_agent weather INTERNAL
          chat scripted-error CLIENT
    """)
    assert spans.one("invoke_agent weather").attributes["error.type"] == "InternalServerError"


@pytest.mark.parametrize("api", APIS)
def test_handoff(instrumented, spans, llm, api):
    result = Runner.run_sync(triage(llm, api), "weather?")

    assert (result.final_output, result.last_agent.name) == (FINAL_ANSWER, "weather")
    spans.assert_tree("""
        invoke_agent triage INTERNAL
          chat scripted-weather CLIENT
          invoke_agent weather INTERNAL
            chat scripted-weather CLIENT
    """)
    assert _usage(spans.one("invoke_agent triage")) == (130, 22)
    assert _usage(spans.one("invoke_agent weather")) == (80, 12)


def test_handoff_streamed(instrumented, spans, llm):
    async def run():
        result = Runner.run_streamed(triage(llm), "weather?")
        return [e async for e in result.stream_events()], result

    _, result = asyncio.run(run())

    assert result.final_output == FINAL_ANSWER
    spans.assert_tree("""
        invoke_agent triage INTERNAL
          chat scripted-weather CLIENT
          invoke_agent weather INTERNAL
            chat scripted-weather CLIENT
    """)


def test_agent_as_tool(instrumented, spans, llm):
    result = Runner.run_sync(manager(llm), "weather?")

    assert result.final_output == FINAL_ANSWER
    spans.assert_tree("""
        invoke_agent manager INTERNAL
          chat scripted-weather CLIENT
          execute_tool ask_weather_agent INTERNAL
            invoke_agent weather INTERNAL
              chat scripted-weather CLIENT
              execute_tool get_weather INTERNAL
              chat scripted-weather CLIENT
          chat scripted-weather CLIENT
    """)
    assert _usage(spans.one("invoke_agent manager")) == (260, 44)


def test_runs_in_threads(instrumented, spans, llm):
    results: list[str] = []

    def run(n: int) -> None:
        results.append(Runner.run_sync(agent(llm, name=f"weather-{n}"), "weather?").final_output)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results == [FINAL_ANSWER] * 3
    trees = [AGENT_TREE.strip("\n").replace("invoke_agent weather", f"invoke_agent weather-{n}") for n in range(3)]
    spans.assert_tree("\n".join(trees), sort_roots=True)
    roots = spans.by_prefix("invoke_agent")
    assert len({r.context.trace_id for r in roots}) == 3
    assert all(_usage(r) == (130, 22) for r in roots)


def test_xpander_ids_from_task_scope_and_registered_name(instrumented, spans, llm):
    task_context.register_agent("weather-registered", "agent-456")
    with task_context.task(task_id="task-9"):
        Runner.run_sync(agent(llm, name="weather-registered"), "weather?")

    root = spans.one("invoke_agent weather-registered")
    assert root.attributes[semconv.XPANDER_AGENT_ID] == "agent-456"
    assert root.attributes[semconv.XPANDER_TASK_ID] == "task-9"


class _Recording(TracingProcessor):
    def __init__(self) -> None:
        self.ended: list[str] = []

    def on_trace_start(self, trace) -> None:
        pass

    def on_trace_end(self, trace) -> None:
        pass

    def on_span_start(self, span) -> None:
        pass

    def on_span_end(self, span) -> None:
        self.ended.append(span.span_data.type)

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


def test_users_trace_processors_keep_receiving_spans(instrument, spans, llm):
    users = _Recording()
    add_trace_processor(users)
    Runner.run_sync(agent(llm), "weather?")
    plain = list(users.ended)
    users.ended.clear()

    instrument(OpenAIAgentsInstrumentor)
    Runner.run_sync(agent(llm), "weather?")

    assert users.ended == plain
    assert [kind for kind in plain if kind in ("response", "function", "agent")] == [
        "response", "function", "response", "agent"]


def test_message_content_only_when_enabled(instrument, spans, llm, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    instrument(OpenAIAgentsInstrumentor)
    Runner.run_sync(agent(llm), "weather?")

    tool = spans.one("execute_tool get_weather")
    assert tool.attributes[semconv.TOOL_CALL_ARGUMENTS] == '{"city": "Paris"}'
    assert tool.attributes[semconv.TOOL_CALL_RESULT] == "sunny in Paris, 22 degrees"


def test_message_content_off_by_default(instrumented, spans, llm):
    Runner.run_sync(agent(llm), "weather?")

    for span in spans.finished():
        assert not {semconv.TOOL_CALL_ARGUMENTS, semconv.TOOL_CALL_RESULT, semconv.INPUT_MESSAGES,
                    semconv.OUTPUT_MESSAGES} & set(span.attributes)


# --- behaviour unchanged: the same scenario with and without instrumentation -------------------------


def _sync(llm):
    return outcome(Runner.run_sync(agent(llm), "weather?"))


def _sync_chat_completions(llm):
    return outcome(Runner.run_sync(agent(llm, "chat_completions"), "weather?"))


def _async(llm):
    return outcome(asyncio.run(Runner.run(agent(llm), "weather?")))


def _async_stream(llm):
    async def run():
        result = Runner.run_streamed(agent(llm, "chat_completions"), "weather?")
        return event_kinds([e async for e in result.stream_events()]), result.final_output

    return asyncio.run(run())


def _half_stream(llm):
    async def run():
        result = Runner.run_streamed(agent(llm), "weather?")
        taken = []
        async for event in result.stream_events():
            taken.append(event)
            if len(taken) == 6:
                break
        result.cancel()
        return event_kinds(taken)

    return asyncio.run(run())


def _tool_raises(llm):
    return outcome(Runner.run_sync(agent(llm, tools=[broken_weather]), "weather?"))


def _llm_error(llm):
    try:
        Runner.run_sync(agent(llm, model_name="scripted-error"), "weather?")
    except InternalServerError as exc:
        return type(exc), str(exc), exc.status_code
    return None


def _handoff(llm):
    return outcome(Runner.run_sync(triage(llm), "weather?"))


def _agent_as_tool(llm):
    return outcome(Runner.run_sync(manager(llm), "weather?"))


@pytest.mark.parametrize("scenario", [_sync, _sync_chat_completions, _async, _async_stream, _half_stream,
                                      _tool_raises, _llm_error, _handoff, _agent_as_tool])
def test_same_results_with_and_without_instrumentation(instrument, spans, llm, scenario):
    plain = scenario(llm)
    instrument(OpenAIAgentsInstrumentor)
    traced = scenario(llm)

    assert traced == plain
    gc.collect()
    spans.assert_all_ended()
    assert spans.by_prefix("invoke_agent")
