"""smolagents against the scripted LLM: the span tree, tokens and tools of each kind of run.

The model is ``scripted-final-answer``: it calls ``get_weather`` (usage 50/10), then smolagents' built-in
``final_answer`` tool with "It is sunny in Paris, 22 degrees." (usage 80/12). smolagents has no async API,
so there is no async scenario here.
"""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from openai import InternalServerError
from opentelemetry.trace import StatusCode
from smolagents import CodeAgent, OpenAIServerModel, ToolCallingAgent, tool
from smolagents.memory import ActionStep
from smolagents.utils import AgentGenerationError

import xpander_otel
from xpander_otel import semconv
from xpander_otel.devserver.scripted_llm import FINAL_ANSWER
from xpander_otel.instrumentation.smolagents import SmolagentsInstrumentor

ANSWER_TREE = """
    invoke_agent weather_agent INTERNAL
      chat scripted-final-answer CLIENT
      execute_tool get_weather INTERNAL
      chat scripted-final-answer CLIENT
"""


@tool
def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city's name.
    """
    return f"Sunny in {city}, 22 degrees."


def make_agent(llm, model_id: str = "scripted-final-answer", **kwargs) -> ToolCallingAgent:
    model = OpenAIServerModel(
        model_id=model_id, api_base=llm.base_url, api_key="sk-test", client_kwargs={"max_retries": 0}
    )
    kwargs.setdefault("name", "weather_agent")
    return ToolCallingAgent(tools=[get_weather], model=model, verbosity_level=0, **kwargs)


def tool_call_ids(agent: ToolCallingAgent) -> list[str]:
    """The ids smolagents kept for the calls of user tools (final_answer excluded)."""
    return [
        call.id
        for step in agent.memory.steps
        if isinstance(step, ActionStep)
        for call in step.tool_calls or ()
        if call.name != "final_answer"
    ]


@pytest.fixture
def instrumented(instrument):
    return instrument(SmolagentsInstrumentor)


def test_sync_run_gives_agent_chat_and_tool_spans_with_exact_usage(instrumented, spans, llm):
    agent = make_agent(llm)
    with xpander_otel.task(agent_id="agent-smol", task_id="task-smol"):
        result = agent.run("What is the weather in Paris?")

    assert result == FINAL_ANSWER
    spans.assert_tree(ANSWER_TREE)
    root = spans.one("invoke_agent weather_agent")
    assert root.attributes[semconv.OPERATION_NAME] == "invoke_agent"
    assert root.attributes[semconv.AGENT_NAME] == "weather_agent"
    assert root.attributes[semconv.PROVIDER_NAME] == "openai"
    assert root.attributes[semconv.REQUEST_MODEL] == "scripted-final-answer"
    assert root.attributes[semconv.USAGE_INPUT_TOKENS] == 130
    assert root.attributes[semconv.USAGE_OUTPUT_TOKENS] == 22
    assert root.attributes[semconv.XPANDER_AGENT_ID] == "agent-smol"
    assert root.attributes[semconv.XPANDER_TASK_ID] == "task-smol"
    assert root.attributes[semconv.XPANDER_TASK_INPUT] == "What is the weather in Paris?"
    assert root.attributes[semconv.XPANDER_TASK_RESULT] == FINAL_ANSWER

    first, second = spans.named("chat scripted-final-answer")
    assert (first.attributes[semconv.USAGE_INPUT_TOKENS], first.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (50, 10)
    assert (second.attributes[semconv.USAGE_INPUT_TOKENS], second.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (80, 12)
    assert first.attributes[semconv.RESPONSE_MODEL] == "scripted-final-answer"
    assert first.attributes[semconv.RESPONSE_FINISH_REASONS] == ("tool_calls",)

    tool_span = spans.one("execute_tool get_weather")
    assert tool_span.attributes[semconv.TOOL_NAME] == "get_weather"
    assert [tool_span.attributes[semconv.TOOL_CALL_ID]] == tool_call_ids(agent)
    assert [r["tools"] for r in llm.llm.requests] == [["get_weather", "final_answer"]] * 2


def test_final_answer_tool_is_not_a_used_tool(instrumented, spans, llm):
    """The built-in final_answer call ends the run: it is the result, not an execute_tool span."""
    make_agent(llm).run("What is the weather in Paris?")

    assert [s.attributes[semconv.TOOL_NAME] for s in spans.by_prefix("execute_tool")] == ["get_weather"]
    assert spans.named("execute_tool final_answer") == []


def test_streamed_run_with_streamed_model_output_counts_usage_from_the_stream(instrumented, spans, llm):
    agent = make_agent(llm, stream_outputs=True)

    steps = list(agent.run("What is the weather in Paris?", stream=True))

    assert type(steps[-1]).__name__ == "FinalAnswerStep"
    assert steps[-1].output == FINAL_ANSWER
    assert [r["stream"] for r in llm.llm.requests] == [True, True]
    spans.assert_tree(ANSWER_TREE)
    root = spans.one("invoke_agent weather_agent")
    assert (root.attributes[semconv.USAGE_INPUT_TOKENS], root.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (130, 22)
    assert root.attributes[semconv.XPANDER_TASK_RESULT] == FINAL_ANSWER
    first, second = spans.named("chat scripted-final-answer")
    assert (first.attributes[semconv.USAGE_INPUT_TOKENS], first.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (50, 10)
    assert (second.attributes[semconv.USAGE_INPUT_TOKENS], second.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (80, 12)


def test_span_of_a_lazy_stream_opens_only_when_run_is_called_and_ends_with_the_last_step(instrumented, spans, llm):
    stream = make_agent(llm).run("What is the weather in Paris?", stream=True)
    assert llm.llm.requests == []
    assert spans.finished() == []

    for _ in stream:
        pass

    spans.assert_tree(ANSWER_TREE)


# smolagents' own step generator yields inside ``finally``, so closing an abandoned one makes Python
# report "generator ignored GeneratorExit" (uninstrumented too).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_abandoned_stream_ends_every_span(instrumented, spans, llm):
    stream = make_agent(llm, stream_outputs=True).run("What is the weather in Paris?", stream=True)
    for step in stream:
        if type(step).__name__ == "ToolOutput":
            break
    del stream, step

    spans.assert_tree("""
        invoke_agent weather_agent INTERNAL
          chat scripted-final-answer CLIENT
          execute_tool get_weather INTERNAL
    """)
    root = spans.one("invoke_agent weather_agent")
    assert root.status.status_code is StatusCode.UNSET
    assert (root.attributes[semconv.USAGE_INPUT_TOKENS], root.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (50, 10)
    assert len(llm.llm.requests) == 1


def test_model_error_marks_chat_and_agent_spans_and_reaches_the_caller_unchanged(instrumented, spans, llm):
    agent = make_agent(llm, model_id="scripted-error")

    with pytest.raises(AgentGenerationError) as raised:
        agent.run("What is the weather in Paris?")

    assert isinstance(raised.value.__cause__, InternalServerError)
    spans.assert_tree("""
        invoke_agent weather_agent INTERNAL
          chat scripted-error CLIENT
    """)
    chat, root = spans.one("chat scripted-error"), spans.one("invoke_agent weather_agent")
    assert chat.status.status_code is StatusCode.ERROR
    assert chat.attributes["error.type"] == "InternalServerError"
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes["error.type"] == "AgentGenerationError"


def test_failing_tool_marks_its_span_and_the_run_goes_on(instrumented, spans, llm):
    """smolagents turns a tool's exception into an observation and asks the model again; after
    ``max_steps`` it asks for an answer without tools (the scripted model answers in text, usage 20/8)."""

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city.

        Args:
            city: The city's name.
        """
        raise RuntimeError("weather service down")

    agent = make_agent(llm, max_steps=2)
    agent.tools["get_weather"] = get_weather

    assert agent.run("What is the weather in Paris?") == FINAL_ANSWER
    spans.assert_tree("""
        invoke_agent weather_agent INTERNAL
          chat scripted-final-answer CLIENT
          execute_tool get_weather INTERNAL
          chat scripted-final-answer CLIENT
          execute_tool get_weather INTERNAL
          chat scripted-final-answer CLIENT
    """)
    for tool_span in spans.named("execute_tool get_weather"):
        assert tool_span.status.status_code is StatusCode.ERROR
        assert tool_span.attributes["error.type"] == "RuntimeError"
    root = spans.one("invoke_agent weather_agent")
    assert root.status.status_code is StatusCode.UNSET
    assert (root.attributes[semconv.USAGE_INPUT_TOKENS], root.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (120, 28)


def test_managed_agent_nests_under_its_manager_and_usage_adds_up(instrumented, spans, llm):
    worker = make_agent(llm, description="Knows the weather.")
    manager = ToolCallingAgent(
        tools=[], model=worker.model, managed_agents=[worker], name="manager", verbosity_level=0
    )

    assert manager.run("Ask the weather agent about Paris.") == FINAL_ANSWER
    spans.assert_tree("""
        invoke_agent manager INTERNAL
          chat scripted-final-answer CLIENT
          invoke_agent weather_agent INTERNAL
            chat scripted-final-answer CLIENT
            execute_tool get_weather INTERNAL
            chat scripted-final-answer CLIENT
          chat scripted-final-answer CLIENT
    """)
    root, inner = spans.one("invoke_agent manager"), spans.one("invoke_agent weather_agent")
    assert (inner.attributes[semconv.USAGE_INPUT_TOKENS], inner.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (130, 22)
    assert (root.attributes[semconv.USAGE_INPUT_TOKENS], root.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (260, 44)


def test_runs_in_threads_are_separate_traces(instrumented, spans, llm):
    agents = [make_agent(llm) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda a: a.run("What is the weather in Paris?"), agents))

    assert results == [FINAL_ANSWER] * 3
    spans.assert_tree("\n".join([textwrap.dedent(ANSWER_TREE).strip()] * 3), sort_roots=True)
    roots = spans.named("invoke_agent weather_agent")
    assert len({r.context.trace_id for r in roots}) == 3
    for root in roots:
        assert (root.attributes[semconv.USAGE_INPUT_TOKENS], root.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (130, 22)


def test_code_agent_runs_get_the_same_run_and_model_spans(instrumented, spans, llm):
    """CodeAgent shares MultiStepAgent.run. The scripted model writes no code, so the one step fails to
    parse and smolagents asks for a final answer after ``max_steps`` (``scripted-answer``: 20/8 a call)."""
    model = OpenAIServerModel(model_id="scripted-answer", api_base=llm.base_url, api_key="sk-test",
                              client_kwargs={"max_retries": 0})
    agent = CodeAgent(tools=[get_weather], model=model, name="coder", max_steps=1, verbosity_level=0)

    assert agent.run("What is the weather in Paris?") == FINAL_ANSWER
    spans.assert_tree("""
        invoke_agent coder INTERNAL
          chat scripted-answer CLIENT
          chat scripted-answer CLIENT
    """)
    root = spans.one("invoke_agent coder")
    assert (root.attributes[semconv.USAGE_INPUT_TOKENS], root.attributes[semconv.USAGE_OUTPUT_TOKENS]) == (40, 16)
    assert root.attributes[semconv.XPANDER_TASK_RESULT] == FINAL_ANSWER


def test_uninstrumented_run_is_unchanged_and_emits_nothing(instrument, spans, llm):
    instrumentor = instrument(SmolagentsInstrumentor)
    instrumented_result = make_agent(llm).run("What is the weather in Paris?")
    instrumented_requests = [(r["model"], r["tools"], len(r["messages"])) for r in llm.llm.requests]
    instrumentor.uninstrument()
    spans.clear()
    llm.llm.requests.clear()

    plain = make_agent(llm)
    assert plain.run("What is the weather in Paris?") == instrumented_result == FINAL_ANSWER
    assert [(r["model"], r["tools"], len(r["messages"])) for r in llm.llm.requests] == instrumented_requests
    assert spans.finished() == []


# ``instrument`` comes before ``monkeypatch``: its teardown re-reads the settings after the variable is gone.
def test_message_content_only_when_enabled(instrument, spans, llm, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    instrument(SmolagentsInstrumentor)
    make_agent(llm).run("What is the weather in Paris?")

    tool_span = spans.one("execute_tool get_weather")
    assert tool_span.attributes[semconv.TOOL_CALL_ARGUMENTS] == '{"city": "Paris"}'
    assert tool_span.attributes[semconv.TOOL_CALL_RESULT] == "Sunny in Paris, 22 degrees."
    first = spans.named("chat scripted-final-answer")[0]
    assert "What is the weather in Paris?" in first.attributes[semconv.INPUT_MESSAGES]


def test_message_content_off_by_default_and_task_content_can_be_switched_off(instrument, spans, llm, monkeypatch):
    monkeypatch.setenv("XPANDER_CAPTURE_TASK_CONTENT", "false")
    instrument(SmolagentsInstrumentor)
    make_agent(llm).run("What is the weather in Paris?")

    spans.assert_tree(ANSWER_TREE)
    for span in spans.finished():
        assert not {semconv.TOOL_CALL_ARGUMENTS, semconv.TOOL_CALL_RESULT, semconv.INPUT_MESSAGES,
                    semconv.OUTPUT_MESSAGES, semconv.XPANDER_TASK_INPUT, semconv.XPANDER_TASK_RESULT} & set(span.attributes)
