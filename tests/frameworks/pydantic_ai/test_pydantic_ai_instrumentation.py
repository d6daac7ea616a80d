"""Pydantic AI against the scripted LLM: its own GenAI spans, switched on by our instrumentor, with the
xpander attributes added and nothing duplicated.

The model is ``scripted-weather``: it calls ``get_weather`` (usage 50/10), then answers "It is sunny in
Paris, 22 degrees." (usage 80/12).
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from openai import AsyncOpenAI
from opentelemetry.trace import StatusCode
from pydantic_ai import Agent, RunContext
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ToolCallPart
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

import xpander_otel
from xpander_otel import semconv
from xpander_otel.devserver.scripted_llm import FINAL_ANSWER
from xpander_otel.instrumentation.pydantic_ai import PydanticAIInstrumentor
from xpander_otel.task_context import METADATA_AGENT_ID, METADATA_TASK_ID

ANSWER_TREE = """
    invoke_agent weather_agent INTERNAL
      chat scripted-weather CLIENT
      execute_tool get_weather INTERNAL
      chat scripted-weather CLIENT
"""
QUESTION = "What is the weather in Paris?"


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}, 22 degrees."


def make_model(llm, model_name: str = "scripted-weather") -> OpenAIChatModel:
    client = AsyncOpenAI(base_url=llm.base_url, api_key="sk-test", max_retries=0)
    return OpenAIChatModel(model_name, provider=OpenAIProvider(openai_client=client))


def make_agent(llm, model_name: str = "scripted-weather", **kwargs) -> Agent:
    kwargs.setdefault("name", "weather_agent")
    return Agent(make_model(llm, model_name), tools=[get_weather], instructions="Be brief.", **kwargs)


def tool_call_ids(result) -> list[str]:
    return [p.tool_call_id for m in result.all_messages() for p in m.parts if isinstance(p, ToolCallPart)]


def usage_of(span) -> tuple[int, int]:
    return span.attributes[semconv.USAGE_INPUT_TOKENS], span.attributes[semconv.USAGE_OUTPUT_TOKENS]


def assert_answer_spans(spans, result=None) -> None:
    spans.assert_tree(ANSWER_TREE)
    root = spans.one("invoke_agent weather_agent")
    # Tokens live on the chat spans only; the run span's own total uses Pydantic AI's aggregated names.
    assert semconv.USAGE_INPUT_TOKENS not in root.attributes
    assert root.attributes["gen_ai.aggregated_usage.input_tokens"] == 130
    assert root.attributes["gen_ai.aggregated_usage.output_tokens"] == 22
    assert [usage_of(s) for s in spans.named("chat scripted-weather")] == [(50, 10), (80, 12)]
    assert root.attributes[semconv.XPANDER_TASK_INPUT] == QUESTION
    assert root.attributes[semconv.XPANDER_TASK_RESULT] == FINAL_ANSWER
    assert root.attributes[semconv.REQUEST_MODEL] == "scripted-weather"
    assert root.attributes[semconv.PROVIDER_NAME] == "openai"
    tool_span = spans.one("execute_tool get_weather")
    assert tool_span.attributes[semconv.TOOL_NAME] == "get_weather"
    if result is not None:
        assert [tool_span.attributes[semconv.TOOL_CALL_ID]] == tool_call_ids(result)


@pytest.fixture
def instrumented(instrument):
    return instrument(PydanticAIInstrumentor)


def test_run_sync_gives_one_span_tree_with_xpander_ids(instrumented, spans, llm):
    with xpander_otel.task(agent_id="agent-pai", task_id="task-pai"):
        result = make_agent(llm).run_sync(QUESTION)

    assert result.output == FINAL_ANSWER
    assert_answer_spans(spans, result)
    root = spans.one("invoke_agent weather_agent")
    assert root.attributes[semconv.XPANDER_AGENT_ID] == "agent-pai"
    assert root.attributes[semconv.XPANDER_TASK_ID] == "task-pai"
    assert [r["tools"] for r in llm.llm.requests] == [["get_weather"]] * 2


def test_async_run_takes_xpander_ids_from_agent_metadata(instrumented, spans, llm):
    agent = make_agent(llm, metadata={METADATA_AGENT_ID: "agent-meta", METADATA_TASK_ID: "task-meta"})

    result = asyncio.run(agent.run(QUESTION))

    assert result.output == FINAL_ANSWER
    assert_answer_spans(spans, result)
    root = spans.one("invoke_agent weather_agent")
    assert root.attributes[semconv.XPANDER_AGENT_ID] == "agent-meta"
    assert root.attributes[semconv.XPANDER_TASK_ID] == "task-meta"


def test_streamed_run_counts_usage_from_the_stream(instrumented, spans, llm):
    async def main():
        async with make_agent(llm).run_stream(QUESTION) as stream:
            return await stream.get_output()

    assert asyncio.run(main()) == FINAL_ANSWER
    assert [r["stream"] for r in llm.llm.requests] == [True, True]
    assert_answer_spans(spans)


def test_iter_run_gives_the_same_tree(instrumented, spans, llm):
    async def main():
        async with make_agent(llm).iter(QUESTION) as run:
            async for _ in run:
                pass
        return run.result

    result = asyncio.run(main())
    assert result.output == FINAL_ANSWER
    assert_answer_spans(spans, result)


def test_abandoned_stream_ends_every_span(instrumented, spans, llm):
    async def main():
        async with make_agent(llm).run_stream(QUESTION) as stream:
            async for _ in stream.stream_text(delta=True):
                break

    asyncio.run(main())

    spans.assert_tree(ANSWER_TREE)
    root = spans.one("invoke_agent weather_agent")
    assert root.attributes[semconv.XPANDER_TASK_INPUT] == QUESTION
    # The scripted stream is small enough to be read whole before the break: both calls report usage.
    assert [usage_of(s) for s in spans.named("chat scripted-weather")] == [(50, 10), (80, 12)]


def test_model_error_marks_the_spans_and_reaches_the_caller_unchanged(instrumented, spans, llm):
    with pytest.raises(ModelHTTPError) as raised:
        make_agent(llm, "scripted-error").run_sync(QUESTION)

    assert raised.value.status_code == 500
    spans.assert_tree("""
        invoke_agent weather_agent INTERNAL
          chat scripted-error CLIENT
    """)
    for span in spans.finished():
        assert span.status.status_code is StatusCode.ERROR
    assert semconv.XPANDER_TASK_RESULT not in spans.one("invoke_agent weather_agent").attributes


def test_delegating_agent_nests_the_worker_run(instrumented, spans, llm):
    worker = make_agent(llm)
    manager = Agent(make_model(llm), name="manager", instructions="Delegate.")

    @manager.tool
    async def ask_weather_agent(ctx: RunContext[None], city: str) -> str:
        """Ask the weather agent."""
        answer = await worker.run(f"Weather in {city}?", usage=ctx.usage)
        return answer.output

    with xpander_otel.task(agent_id="agent-outer"):
        assert manager.run_sync(QUESTION).output == FINAL_ANSWER

    spans.assert_tree("""
        invoke_agent manager INTERNAL
          chat scripted-weather CLIENT
          execute_tool ask_weather_agent INTERNAL
            invoke_agent weather_agent INTERNAL
              chat scripted-weather CLIENT
              execute_tool get_weather INTERNAL
              chat scripted-weather CLIENT
          chat scripted-weather CLIENT
    """)
    assert [usage_of(s) for s in spans.named("chat scripted-weather")] == [(50, 10), (50, 10), (80, 12), (80, 12)]
    assert spans.one("invoke_agent manager").attributes["gen_ai.aggregated_usage.input_tokens"] == 130
    for name in ("invoke_agent manager", "invoke_agent weather_agent"):
        assert spans.one(name).attributes[semconv.XPANDER_AGENT_ID] == "agent-outer"


def test_runs_in_threads_are_separate_traces(instrumented, spans, llm):
    """One agent per thread: run_sync runs its own event loop, and an async OpenAI client belongs to one."""
    agents = [make_agent(llm) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda agent: agent.run_sync(QUESTION).output, agents))

    assert results == [FINAL_ANSWER] * 3
    tree = ANSWER_TREE.strip("\n")
    spans.assert_tree("\n".join([tree] * 3), sort_roots=True)
    assert len({s.context.trace_id for s in spans.named("invoke_agent weather_agent")}) == 3


def test_settings_the_application_chose_are_kept_and_still_enriched(instrument, spans, llm, tracer_provider):
    own = InstrumentationSettings(tracer_provider=tracer_provider, include_content=True)
    Agent.instrument_all(own)
    try:
        instrument(PydanticAIInstrumentor)
        assert Agent._instrument_default is own
        with xpander_otel.task(agent_id="agent-own"):
            make_agent(llm).run_sync(QUESTION)
        spans.assert_tree(ANSWER_TREE)
        root = spans.one("invoke_agent weather_agent")
        assert root.attributes[semconv.XPANDER_AGENT_ID] == "agent-own"
        assert root.attributes["final_result"] == FINAL_ANSWER  # the application's include_content=True
    finally:
        Agent.instrument_all(False)


def test_uninstrumented_run_is_unchanged_and_emits_nothing(instrument, spans, llm):
    instrumentor = instrument(PydanticAIInstrumentor)
    instrumented_output = make_agent(llm).run_sync(QUESTION).output
    instrumentor.uninstrument()
    assert Agent._instrument_default is False
    spans.clear()
    llm.llm.requests.clear()

    assert make_agent(llm).run_sync(QUESTION).output == instrumented_output == FINAL_ANSWER
    assert len(llm.llm.requests) == 2
    assert spans.finished() == []


# ``instrument`` comes before ``monkeypatch``: its teardown re-reads the settings after the variable is gone.
def test_message_content_follows_the_genai_switch(instrument, spans, llm, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    instrument(PydanticAIInstrumentor)
    make_agent(llm).run_sync(QUESTION)

    assert spans.one("invoke_agent weather_agent").attributes["final_result"] == FINAL_ANSWER
    tool_span = spans.one("execute_tool get_weather")
    assert json.loads(tool_span.attributes[semconv.TOOL_CALL_ARGUMENTS]) == {"city": "Paris"}
    assert QUESTION in spans.named("chat scripted-weather")[0].attributes[semconv.INPUT_MESSAGES]


def test_no_message_content_by_default_and_task_content_can_be_switched_off(instrument, spans, llm, monkeypatch):
    monkeypatch.setenv("XPANDER_CAPTURE_TASK_CONTENT", "false")
    instrument(PydanticAIInstrumentor)
    make_agent(llm).run_sync(QUESTION)

    spans.assert_tree(ANSWER_TREE)
    for span in spans.finished():
        for value in span.attributes.values():
            assert QUESTION not in str(value) and "Paris" not in str(value)
