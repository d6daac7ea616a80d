"""AgnoInstrumentor on real agno agents and teams against the scripted LLM: one test per scenario."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest
from _agno_instrumentation_support import (
    FINAL_ANSWER,
    agent,
    broken_weather,
    chunks,
    outcome,
    streamed_text,
    team,
)
from opentelemetry.trace import StatusCode
from pydantic import BaseModel, SecretStr

from xpander_otel import llm_keys, semconv, task_context
from xpander_otel.instrumentation.agno import AgnoInstrumentor

AGENT_TREE = """
invoke_agent weather INTERNAL
  chat scripted-weather CLIENT
  execute_tool get_weather INTERNAL
  chat scripted-weather CLIENT
"""

TEAM_TREE = """
invoke_agent team INTERNAL
  chat scripted-weather CLIENT
  execute_tool delegate_task_to_member INTERNAL
    invoke_agent weather INTERNAL
      chat scripted-weather CLIENT
      execute_tool get_weather INTERNAL
      chat scripted-weather CLIENT
  chat scripted-weather CLIENT
"""


@pytest.fixture
def instrumented(instrument):
    return instrument(AgnoInstrumentor)


def _usage(span) -> tuple[int, int]:
    return span.attributes[semconv.USAGE_INPUT_TOKENS], span.attributes[semconv.USAGE_OUTPUT_TOKENS]


def _tool_call_id_sent_back(llm) -> str:
    """The tool call id the LLM issued, as the agent sent it back in its second request."""
    second = llm.llm.requests[1]["messages"]
    return next(m["tool_calls"][0]["id"] for m in second if m.get("tool_calls"))


def assert_weather_run(spans, llm, *, root: str = "invoke_agent weather") -> None:
    first, second = spans.named("chat scripted-weather")
    assert (_usage(first), _usage(second)) == ((50, 10), (80, 12))
    assert first.attributes[semconv.REQUEST_MODEL] == "scripted-weather"
    assert first.attributes[semconv.PROVIDER_NAME] == "openai"
    tool = spans.one("execute_tool get_weather")
    assert tool.attributes[semconv.TOOL_NAME] == "get_weather"
    assert tool.attributes[semconv.TOOL_CALL_ID] == _tool_call_id_sent_back(llm)
    assert tool.status.status_code == StatusCode.UNSET
    agent_span = spans.one(root)
    assert _usage(agent_span) == (130, 22)
    assert agent_span.attributes[semconv.AGENT_NAME] == root.split(" ", 1)[1]
    assert agent_span.attributes[semconv.XPANDER_TASK_RESULT] == FINAL_ANSWER
    assert agent_span.status.status_code == StatusCode.UNSET


def test_sync_run(instrumented, spans, llm):
    result = agent(llm).run("What is the weather in Paris?")

    assert result.content == FINAL_ANSWER
    spans.assert_tree(AGENT_TREE)
    assert_weather_run(spans, llm)
    agent_span = spans.one("invoke_agent weather")
    assert agent_span.attributes[semconv.XPANDER_TASK_INPUT] == "What is the weather in Paris?"
    assert agent_span.attributes[semconv.AGENT_ID] == "Paris"
    assert agent_span.attributes[semconv.CONVERSATION_ID] == result.session_id


def test_async_run(instrumented, spans, llm):
    result = asyncio.run(agent(llm).arun("What is the weather in Paris?"))

    assert result.content == FINAL_ANSWER
    spans.assert_tree(AGENT_TREE)
    assert_weather_run(spans, llm)


def test_sync_stream(instrumented, spans, llm):
    events = list(agent(llm).run("weather?", stream=True))

    assert streamed_text(events) == FINAL_ANSWER
    spans.assert_tree(AGENT_TREE)
    assert_weather_run(spans, llm)
    assert all(r["stream"] for r in llm.llm.requests)


def test_async_stream(instrumented, spans, llm):
    async def run():
        return [e async for e in agent(llm).arun("weather?", stream=True)]

    events = asyncio.run(run())

    assert streamed_text(events) == FINAL_ANSWER
    spans.assert_tree(AGENT_TREE)
    assert_weather_run(spans, llm)


def test_sync_stream_abandoned_half_way(instrumented, spans, llm):
    stream = agent(llm).run("weather?", stream=True)
    for event in stream:
        if getattr(event, "content", None) == "It":  # first word of the answer: the 2nd LLM call streams
            break
    assert spans.named("invoke_agent weather") == []
    del stream, event
    gc.collect()

    spans.assert_tree(AGENT_TREE)
    first, second = spans.named("chat scripted-weather")
    assert _usage(first) == (50, 10)
    assert semconv.USAGE_INPUT_TOKENS not in second.attributes  # its usage chunk never came
    assert _usage(spans.one("invoke_agent weather")) == (50, 10)


def test_sync_stream_closed_half_way(instrumented, spans, llm):
    stream = agent(llm).run("weather?", stream=True)
    for event in stream:
        if getattr(event, "content", None) == "It":
            break
    stream.close()

    spans.assert_tree(AGENT_TREE)


@pytest.mark.parametrize("close", [True, False])
def test_async_stream_abandoned_half_way(instrumented, spans, llm, close):
    async def run():
        stream = agent(llm).arun("weather?", stream=True)
        async for event in stream:
            if getattr(event, "content", None) == "It":
                break
        if close:
            await stream.aclose()

    asyncio.run(run())  # without aclose(), the stream is dropped with the coroutine's frame
    gc.collect()

    spans.assert_tree(AGENT_TREE)
    assert _usage(spans.named("chat scripted-weather")[0]) == (50, 10)


def test_tool_raises(instrumented, spans, llm):
    result = agent(llm, tools=(broken_weather,)).run("weather?")

    assert result.content == FINAL_ANSWER  # agno hands the tool's error to the model, which answers
    spans.assert_tree(AGENT_TREE.replace("get_weather", "broken_weather"))
    tool = spans.one("execute_tool broken_weather")
    assert tool.status.status_code == StatusCode.ERROR
    assert tool.status.description == "weather service down for Paris"
    assert tool.attributes["error.type"] == "ToolError"
    assert spans.one("invoke_agent weather").status.status_code == StatusCode.UNSET


@pytest.mark.parametrize("stream", [False, True])
def test_llm_error(instrumented, spans, llm, stream):
    failing = agent(llm, model_name="scripted-error")
    if stream:
        events = list(failing.run("weather?", stream=True))
        assert chunks(events) == [("RunError", "scripted failure")]
    else:
        result = failing.run("weather?")
        assert (result.content, str(result.status)) == ("scripted failure", "RunStatus.error")

    spans.assert_tree("""
        invoke_agent weather INTERNAL
          chat scripted-error CLIENT
    """)
    chat = spans.one("chat scripted-error")
    assert chat.status.status_code == StatusCode.ERROR
    assert chat.attributes["error.type"] == "ModelProviderError"
    assert chat.events[0].name == "exception"
    root = spans.one("invoke_agent weather")
    assert root.status.status_code == StatusCode.ERROR
    assert root.attributes["error.type"] == "ModelProviderError"
    assert root.attributes[semconv.XPANDER_TASK_RESULT] == "scripted failure"


def test_team_run(instrumented, spans, llm):
    result = team(llm).run("weather?")

    assert result.content == FINAL_ANSWER
    spans.assert_tree(TEAM_TREE)
    team_span = spans.one("invoke_agent team")
    assert _usage(team_span) == (260, 44)  # its own two calls and its member's two
    assert _usage(spans.one("invoke_agent weather")) == (130, 22)
    delegate = spans.one("execute_tool delegate_task_to_member")
    assert delegate.attributes[semconv.TOOL_CALL_ID].startswith("call_")


def test_team_async_stream(instrumented, spans, llm):
    async def run():
        return [e async for e in team(llm).arun("weather?", stream=True)]

    events = asyncio.run(run())

    assert streamed_text(events, "TeamRunContent") == FINAL_ANSWER
    spans.assert_tree(TEAM_TREE)
    assert _usage(spans.one("invoke_agent team")) == (260, 44)


def test_team_sync_stream(instrumented, spans, llm):
    list(team(llm).run("weather?", stream=True))

    spans.assert_tree(TEAM_TREE)


def test_runs_in_threads(instrumented, spans, llm):
    results: list[str] = []

    def run(n: int) -> None:
        results.append(agent(llm, name=f"weather-{n}").run("weather?").content)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results == [FINAL_ANSWER] * 3
    trees = [AGENT_TREE.strip("\n").replace("invoke_agent weather", f"invoke_agent weather-{n}") for n in range(3)]
    spans.assert_tree("\n".join(trees), sort_roots=True)
    roots = spans.by_prefix("invoke_agent")
    assert len({r.context.trace_id for r in roots}) == 3  # each run is its own trace
    assert all(_usage(r) == (130, 22) for r in roots)


def test_xpander_ids_from_metadata_and_task_scope(instrumented, spans, llm):
    weather = agent(llm, metadata={task_context.METADATA_AGENT_ID: "agent-123"})
    with task_context.task(task_id="task-9"):
        weather.run("weather?")

    root = spans.one("invoke_agent weather")
    assert root.attributes[semconv.XPANDER_AGENT_ID] == "agent-123"
    assert root.attributes[semconv.XPANDER_TASK_ID] == "task-9"


def test_secrets_are_scrubbed_from_span_content(instrumented, spans, llm):
    secret = "sk-live-0123456789abcdefghij"
    llm_keys.remember(SecretStr(secret))

    agent(llm).run(f"my key is {secret}, what is the weather?")

    root = spans.one("invoke_agent weather")
    assert root.attributes[semconv.XPANDER_TASK_INPUT] == "my key is **********, what is the weather?"
    assert not [s for s in spans.finished() if secret in str(dict(s.attributes)) + str(s.events)]


def test_message_content_only_when_enabled(instrument, spans, llm, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    instrument(AgnoInstrumentor)
    agent(llm).run("weather?")

    tool = spans.one("execute_tool get_weather")
    assert tool.attributes[semconv.TOOL_CALL_ARGUMENTS] == '{"city": "Paris"}'
    assert tool.attributes[semconv.TOOL_CALL_RESULT] == "sunny in Paris, 22 degrees"
    second = spans.named("chat scripted-weather")[1]
    assert FINAL_ANSWER in second.attributes[semconv.OUTPUT_MESSAGES]


def test_message_content_off_by_default(instrumented, spans, llm):
    agent(llm).run("weather?")

    for span in spans.finished():
        assert not {semconv.TOOL_CALL_ARGUMENTS, semconv.TOOL_CALL_RESULT, semconv.INPUT_MESSAGES,
                    semconv.OUTPUT_MESSAGES} & set(span.attributes)


# --- behaviour unchanged: the same scenario with and without instrumentation -------------------------


def _sync(llm):
    return outcome(agent(llm).run("weather?"))


def _async(llm):
    return outcome(asyncio.run(agent(llm).arun("weather?")))


def _sync_stream(llm):
    return chunks(list(agent(llm).run("weather?", stream=True)))


def _async_stream(llm):
    async def run():
        return chunks([e async for e in agent(llm).arun("weather?", stream=True, stream_events=True)])

    return asyncio.run(run())


def _half_stream(llm):
    taken = []
    for event in agent(llm).run("weather?", stream=True):
        taken.append(event)
        if len(taken) == 5:
            break
    return chunks(taken)


def _tool_raises(llm):
    return outcome(agent(llm, tools=(broken_weather,)).run("weather?"))


def _llm_error(llm):
    return outcome(agent(llm, model_name="scripted-error").run("weather?"))


def _team(llm):
    return outcome(team(llm).run("weather?"))


def _team_stream(llm):
    return chunks(list(team(llm).run("weather?", stream=True)))


class _City(BaseModel):
    city: str


def _user_error(llm):
    # An exception agno raises to the caller (input that fails the agent's input schema) passes unchanged.
    try:
        agent(llm, input_schema=_City).run("not json")
    except ValueError as exc:
        return ("raised", type(exc), str(exc))
    return ("returned",)


@pytest.mark.parametrize("scenario", [_sync, _async, _sync_stream, _async_stream, _half_stream, _tool_raises,
                                      _llm_error, _team, _team_stream, _user_error])
def test_same_results_with_and_without_instrumentation(instrument, spans, llm, scenario):
    plain = scenario(llm)
    instrument(AgnoInstrumentor)
    traced = scenario(llm)

    assert traced == plain
    spans.assert_all_ended()
    assert spans.by_prefix("invoke_agent")
