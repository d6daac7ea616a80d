"""CrewAI against the scripted LLM: one ``invoke_workflow`` span per crew run whichever kickoff starts it,
agent, LLM and tool spans under it, exact tokens.

The model is ``scripted-weather`` through CrewAI's own OpenAI provider (``openai/<model>`` with a
``base_url``): it calls ``get_weather`` (usage 50/10), then answers "It is sunny in Paris, 22 degrees."
(usage 80/12).
"""

from __future__ import annotations

import asyncio
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from crewai import LLM, Agent, Crew, Task
from crewai.tools import tool
from openai import InternalServerError
from opentelemetry.trace import StatusCode

import xpander_otel
from xpander_otel import semconv
from xpander_otel.devserver.scripted_llm import FINAL_ANSWER
from xpander_otel.instrumentation.crewai import CrewAIInstrumentor

# CrewAI warns about its own deprecated fields on every run.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

QUESTION = "What is the weather in Paris?"
AGENT_TREE = """
    invoke_agent Weather reporter INTERNAL
      chat scripted-weather CLIENT
      execute_tool get_weather INTERNAL
      chat scripted-weather CLIENT
"""
CREW_TREE = "invoke_workflow crew INTERNAL\n" + textwrap.indent(textwrap.dedent(AGENT_TREE).strip("\n"), "  ")


@tool("get_weather")
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}, 22 degrees."


def make_llm(llm, model: str = "scripted-weather", **kwargs) -> LLM:
    return LLM(model=f"openai/{model}", base_url=llm.base_url, api_key="sk-test", max_retries=0, **kwargs)


def make_agent(llm, model: str = "scripted-weather", role: str = "Weather reporter", **kwargs) -> Agent:
    return Agent(
        role=role, goal="Report the weather", backstory="A meteorologist.", llm=make_llm(llm, model),
        tools=[get_weather], max_retry_limit=0, verbose=False, **kwargs,
    )


def make_crew(llm, model: str = "scripted-weather", **kwargs) -> Crew:
    agent = make_agent(llm, model)
    task = Task(description=QUESTION, expected_output="One sentence.", agent=agent)
    return Crew(agents=[agent], tasks=[task], verbose=False, **kwargs)


def usage_of(span) -> tuple[int, int]:
    return span.attributes[semconv.USAGE_INPUT_TOKENS], span.attributes[semconv.USAGE_OUTPUT_TOKENS]


def sent_tool_call_ids(llm) -> list[str]:
    """The tool call ids CrewAI sent back to the model with the tool results."""
    return [m["tool_call_id"] for r in llm.llm.requests for m in r["messages"] if m.get("role") == "tool"]


def assert_crew_spans(spans, llm) -> None:
    spans.assert_tree(CREW_TREE)
    root, agent = spans.one("invoke_workflow crew"), spans.one("invoke_agent Weather reporter")
    assert root.attributes[semconv.OPERATION_NAME] == "invoke_workflow"
    assert usage_of(root) == usage_of(agent) == (130, 22)
    assert [usage_of(s) for s in spans.named("chat scripted-weather")] == [(50, 10), (80, 12)]
    assert root.attributes[semconv.XPANDER_TASK_RESULT] == FINAL_ANSWER
    assert agent.attributes[semconv.XPANDER_TASK_INPUT] == QUESTION
    assert agent.attributes[semconv.REQUEST_MODEL] == "scripted-weather"
    first_chat = spans.named("chat scripted-weather")[0]
    assert first_chat.attributes[semconv.RESPONSE_FINISH_REASONS] == ("tool_calls",)
    tool_span = spans.one("execute_tool get_weather")
    assert tool_span.attributes[semconv.TOOL_NAME] == "get_weather"
    assert [tool_span.attributes[semconv.TOOL_CALL_ID]] == sent_tool_call_ids(llm)


@pytest.fixture
def instrumented(instrument):
    return instrument(CrewAIInstrumentor)


def test_kickoff_gives_one_workflow_span_with_the_agent_under_it(instrumented, spans, llm):
    with xpander_otel.task(agent_id="agent-crew", task_id="task-crew"):
        output = make_crew(llm).kickoff()

    assert output.raw == FINAL_ANSWER
    assert_crew_spans(spans, llm)
    root = spans.one("invoke_workflow crew")
    assert root.attributes[semconv.XPANDER_AGENT_ID] == "agent-crew"
    assert root.attributes[semconv.XPANDER_TASK_ID] == "task-crew"
    assert root.attributes[semconv.XPANDER_TASK_INPUT] == QUESTION
    assert [r["model"] for r in llm.llm.requests] == ["scripted-weather"] * 2


def test_kickoff_async_runs_kickoff_in_a_thread_and_still_gives_one_run(instrumented, spans, llm):
    output = asyncio.run(make_crew(llm).kickoff_async())

    assert output.raw == FINAL_ANSWER
    assert_crew_spans(spans, llm)


def test_akickoff_gives_the_same_tree(instrumented, spans, llm):
    output = asyncio.run(make_crew(llm).akickoff())

    assert output.raw == FINAL_ANSWER
    assert_crew_spans(spans, llm)


def test_streaming_kickoff_reenters_in_a_thread_and_still_gives_one_run(instrumented, spans, llm):
    streaming = make_crew(llm, stream=True).kickoff()
    chunks = list(streaming)

    assert "".join(c.content for c in chunks if c.chunk_type.value == "text") == FINAL_ANSWER
    assert streaming.result.raw == FINAL_ANSWER
    assert [r["stream"] for r in llm.llm.requests] == [True, True]
    assert_crew_spans(spans, llm)


@pytest.mark.parametrize("method", ["akickoff", "kickoff_async"])
def test_streaming_async_kickoffs_give_one_run(instrumented, spans, llm, method):
    async def main():
        streaming = await getattr(make_crew(llm, stream=True), method)()
        async for _ in streaming:
            pass
        return streaming.result

    assert asyncio.run(main()).raw == FINAL_ANSWER
    assert [r["stream"] for r in llm.llm.requests] == [True, True]
    assert_crew_spans(spans, llm)


def test_abandoned_stream_still_ends_every_span(instrumented, spans, llm):
    """CrewAI finishes the run in its thread when the stream is dropped (closing it joins the thread)."""
    streaming = make_crew(llm, stream=True).kickoff()
    for _ in streaming:
        break
    streaming.close()
    del streaming

    spans.assert_tree(CREW_TREE)
    assert usage_of(spans.one("invoke_workflow crew")) == (130, 22)


def test_llm_error_marks_the_spans_and_reaches_the_caller(instrumented, spans, llm):
    with pytest.raises(InternalServerError) as raised:
        make_crew(llm, "scripted-error").kickoff()

    assert raised.value.status_code == 500
    assert len(llm.llm.requests) == 1  # max_retries=0, max_retry_limit=0
    spans.assert_tree("""
        invoke_workflow crew INTERNAL
          invoke_agent Weather reporter INTERNAL
            chat scripted-error CLIENT
    """)
    for span in spans.finished():
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == "InternalServerError"


def test_failing_tool_is_marked_and_the_crew_goes_on(instrumented, spans, llm):
    @tool("get_weather")
    def broken_weather(city: str) -> str:
        """The weather in a city."""
        raise RuntimeError("weather service down")

    agent = make_agent(llm)
    agent.tools = [broken_weather]
    crew = Crew(agents=[agent], tasks=[Task(description=QUESTION, expected_output="One sentence.", agent=agent)])

    assert crew.kickoff().raw == FINAL_ANSWER
    spans.assert_tree(CREW_TREE)
    tool_span = spans.one("execute_tool get_weather")
    assert tool_span.status.status_code is StatusCode.ERROR
    assert tool_span.attributes["error.type"] == "RuntimeError"
    assert spans.one("invoke_workflow crew").status.status_code is StatusCode.UNSET


def test_two_agents_in_one_crew_are_children_of_one_run(instrumented, spans, llm):
    reporter, writer = make_agent(llm), make_agent(llm, role="Writer")
    tasks = [
        Task(description=QUESTION, expected_output="One sentence.", agent=reporter),
        Task(description="Write it up.", expected_output="One sentence.", agent=writer),
    ]

    assert Crew(agents=[reporter, writer], tasks=tasks).kickoff().raw == FINAL_ANSWER
    spans.assert_tree("""
        invoke_workflow crew INTERNAL
          invoke_agent Weather reporter INTERNAL
            chat scripted-weather CLIENT
            execute_tool get_weather INTERNAL
            chat scripted-weather CLIENT
          invoke_agent Writer INTERNAL
            chat scripted-weather CLIENT
            execute_tool get_weather INTERNAL
            chat scripted-weather CLIENT
    """)
    assert usage_of(spans.one("invoke_workflow crew")) == (260, 44)
    assert usage_of(spans.one("invoke_agent Writer")) == (130, 22)


def test_crew_run_from_a_tool_nests_under_the_outer_run(instrumented, spans, llm):
    """Agent-as-tool: a tool that kicks off another crew; the inner run belongs to the outer task."""

    @tool("ask_expert")
    def ask_expert(city: str) -> str:
        """Ask the weather expert crew about a city."""
        return make_crew(llm).kickoff().raw

    outer_agent = make_agent(llm, role="Coordinator")
    outer_agent.tools = [ask_expert]
    outer = Crew(agents=[outer_agent], tasks=[Task(description=QUESTION, expected_output="One sentence.",
                                                   agent=outer_agent)], name="outer")

    assert outer.kickoff().raw == FINAL_ANSWER
    spans.assert_tree("""
        invoke_workflow outer INTERNAL
          invoke_agent Coordinator INTERNAL
            chat scripted-weather CLIENT
            execute_tool ask_expert INTERNAL
              invoke_workflow crew INTERNAL
                invoke_agent Weather reporter INTERNAL
                  chat scripted-weather CLIENT
                  execute_tool get_weather INTERNAL
                  chat scripted-weather CLIENT
            chat scripted-weather CLIENT
    """)
    assert usage_of(spans.one("invoke_workflow crew")) == (130, 22)
    assert usage_of(spans.one("invoke_workflow outer")) == (260, 44)
    assert len({s.context.trace_id for s in spans.finished()}) == 1


def test_crews_in_threads_are_separate_traces(instrumented, spans, llm):
    crews = [make_crew(llm) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        outputs = list(pool.map(lambda crew: crew.kickoff().raw, crews))

    assert outputs == [FINAL_ANSWER] * 3
    spans.assert_tree("\n".join([CREW_TREE] * 3), sort_roots=True)
    roots = spans.named("invoke_workflow crew")
    assert len({r.context.trace_id for r in roots}) == 3
    assert [usage_of(r) for r in roots] == [(130, 22)] * 3


def test_kickoff_for_each_gives_one_run_per_input(instrumented, spans, llm):
    agent = make_agent(llm)
    task = Task(description="What is the weather in {city}?", expected_output="One sentence.", agent=agent)
    crew = Crew(agents=[agent], tasks=[task])

    outputs = crew.kickoff_for_each(inputs=[{"city": "Paris"}, {"city": "Rome"}])

    assert [o.raw for o in outputs] == [FINAL_ANSWER] * 2
    spans.assert_tree("\n".join([CREW_TREE] * 2))
    inputs = [s.attributes[semconv.XPANDER_TASK_INPUT] for s in spans.named("invoke_workflow crew")]
    assert inputs == ['{"city": "Paris"}', '{"city": "Rome"}']


def test_standalone_agent_kickoff_is_an_agent_run(instrumented, spans, llm):
    with xpander_otel.task(agent_id="agent-solo"):
        output = make_agent(llm).kickoff(QUESTION)

    assert output.raw == FINAL_ANSWER
    spans.assert_tree(AGENT_TREE)
    root = spans.one("invoke_agent Weather reporter")
    assert usage_of(root) == (130, 22)
    assert root.attributes[semconv.XPANDER_AGENT_ID] == "agent-solo"
    assert root.attributes[semconv.XPANDER_TASK_RESULT] == FINAL_ANSWER


def test_uninstrumented_kickoff_is_unchanged_and_emits_nothing(instrument, spans, llm):
    instrumentor = instrument(CrewAIInstrumentor)
    instrumented_raw = make_crew(llm).kickoff().raw
    instrumentor.uninstrument()
    spans.clear()
    llm.llm.requests.clear()

    assert make_crew(llm).kickoff().raw == instrumented_raw == FINAL_ANSWER
    assert len(llm.llm.requests) == 2
    assert spans.finished() == []


# ``instrument`` comes before ``monkeypatch``: its teardown re-reads the settings after the variable is gone.
def test_message_content_only_when_enabled(instrument, spans, llm, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    instrument(CrewAIInstrumentor)
    make_crew(llm).kickoff()

    tool_span = spans.one("execute_tool get_weather")
    assert tool_span.attributes[semconv.TOOL_CALL_ARGUMENTS] == '{"city": "Paris"}'
    assert tool_span.attributes[semconv.TOOL_CALL_RESULT] == "Sunny in Paris, 22 degrees."
    second = spans.named("chat scripted-weather")[1]
    assert QUESTION in second.attributes[semconv.INPUT_MESSAGES]
    assert FINAL_ANSWER in second.attributes[semconv.OUTPUT_MESSAGES]


def test_message_content_off_by_default_and_task_content_can_be_switched_off(instrument, spans, llm, monkeypatch):
    monkeypatch.setenv("XPANDER_CAPTURE_TASK_CONTENT", "false")
    instrument(CrewAIInstrumentor)
    make_crew(llm).kickoff()

    spans.assert_tree(CREW_TREE)
    for span in spans.finished():
        assert not {semconv.TOOL_CALL_ARGUMENTS, semconv.TOOL_CALL_RESULT, semconv.INPUT_MESSAGES,
                    semconv.OUTPUT_MESSAGES, semconv.XPANDER_TASK_INPUT, semconv.XPANDER_TASK_RESULT} & set(span.attributes)
