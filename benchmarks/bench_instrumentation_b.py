"""Added time per agent run of the LangChain, Strands and Google ADK instrumentors, on in-process fake
models (no network): one tool call then the answer, the same two turns as the scripted LLM.

Run it in the framework's test environment (``python3 scripts/dev.py test -s <group>`` builds it)::

    .nox/langchain/bin/python benchmarks/bench_instrumentation_b.py langchain
    .nox/strands/bin/python benchmarks/bench_instrumentation_b.py strands
    .nox/google_adk/bin/python benchmarks/bench_instrumentation_b.py google_adk

Each round times a block of runs without and a block with the instrumentor (the global tracer provider is
set in both, so Strands' and ADK's own spans are in the baseline too and the difference is what we add),
in alternating order; times are CPU time of the process. The figure is the median over rounds of the
per-run difference. Bounded: ``--rounds`` x ``--runs`` x 2 runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

ANSWER = "It is sunny in Paris, 22 degrees."


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


# --- one agent run per framework, on a fake model ----------------------------------------------------


def langchain_run() -> tuple[Callable[[], Any], type]:
    from langchain.agents import create_agent
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, ToolMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.tools import tool

    from xpander_otel.instrumentation.langchain import LangChainInstrumentor

    class FakeChat(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "fake"

        def bind_tools(self, tools: Any, **kwargs: Any) -> FakeChat:
            return self

        def _generate(self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
            if isinstance(messages[-1], ToolMessage):
                message = AIMessage(ANSWER, usage_metadata={"input_tokens": 80, "output_tokens": 12, "total_tokens": 92})
            else:
                call = {"name": "weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
                message = AIMessage("", tool_calls=[call], usage_metadata={"input_tokens": 50, "output_tokens": 10, "total_tokens": 60})
            return ChatResult(generations=[ChatGeneration(message=message)])

    agent = create_agent(FakeChat(), tools=[tool(weather)], name="weather")
    question = {"messages": [{"role": "user", "content": "What is the weather in Paris?"}]}
    return (lambda: agent.invoke(question)), LangChainInstrumentor


def strands_run() -> tuple[Callable[[], Any], type]:
    from strands import Agent, tool
    from strands.models.model import Model

    from xpander_otel.instrumentation.strands import StrandsInstrumentor

    class FakeModel(Model):
        def update_config(self, **config: Any) -> None:
            pass

        def get_config(self) -> dict[str, Any]:
            return {"model_id": "fake"}

        def structured_output(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

        async def stream(self, messages: list[Any], tool_specs: Any = None, system_prompt: Any = None, **kwargs: Any):
            answered = any("toolResult" in block for block in messages[-1]["content"])
            yield {"messageStart": {"role": "assistant"}}
            if answered:
                yield {"contentBlockDelta": {"delta": {"text": ANSWER}}}
                yield {"contentBlockStop": {}}
                yield {"messageStop": {"stopReason": "end_turn"}}
                usage = {"inputTokens": 80, "outputTokens": 12, "totalTokens": 92}
            else:
                yield {"contentBlockStart": {"start": {"toolUse": {"name": "weather", "toolUseId": "call_1"}}}}
                yield {"contentBlockDelta": {"delta": {"toolUse": {"input": '{"city": "Paris"}'}}}}
                yield {"contentBlockStop": {}}
                yield {"messageStop": {"stopReason": "tool_use"}}
                usage = {"inputTokens": 50, "outputTokens": 10, "totalTokens": 60}
            yield {"metadata": {"usage": usage, "metrics": {"latencyMs": 1}}}

    def run() -> Any:
        return Agent(model=FakeModel(), tools=[tool(weather)], name="weather", callback_handler=None)(
            "What is the weather in Paris?"
        )

    return run, StrandsInstrumentor


def google_adk_run() -> tuple[Callable[[], Any], type]:
    from google.adk.agents import LlmAgent
    from google.adk.models.base_llm import BaseLlm
    from google.adk.models.llm_response import LlmResponse
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    from xpander_otel.instrumentation.google_adk import GoogleADKInstrumentor

    class FakeLlm(BaseLlm):
        async def generate_content_async(self, llm_request: Any, stream: bool = False):
            parts = llm_request.contents[-1].parts or []
            if any(p.function_response for p in parts):
                part, usage = types.Part(text=ANSWER), (80, 12)
            else:
                call = types.FunctionCall(name="weather", args={"city": "Paris"}, id="call_1")
                part, usage = types.Part(function_call=call), (50, 10)
            yield LlmResponse(
                content=types.Content(role="model", parts=[part]),
                usage_metadata=types.GenerateContentResponseUsageMetadata(
                    prompt_token_count=usage[0], candidates_token_count=usage[1], total_token_count=sum(usage)
                ),
            )

    runner = InMemoryRunner(agent=LlmAgent(name="weather", model=FakeLlm(model="fake"), tools=[weather]), app_name="b")
    message = types.Content(role="user", parts=[types.Part(text="What is the weather in Paris?")])

    async def run_async() -> list[Any]:
        session = await runner.session_service.create_session(app_name="b", user_id="u")
        return [e async for e in runner.run_async(user_id="u", session_id=session.id, new_message=message)]

    return (lambda: asyncio.run(run_async())), GoogleADKInstrumentor


FRAMEWORKS = {"langchain": langchain_run, "strands": strands_run, "google_adk": google_adk_run}


def _block(run: Callable[[], Any], runs: int) -> float:
    # CPU time of this process (all its threads): the machine is shared, wall time would measure the others.
    start = time.process_time()
    for _ in range(runs):
        run()
    return (time.process_time() - start) / runs


def measure(framework: str, rounds: int, runs: int) -> dict[str, float]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(DropExporter()))
    trace.set_tracer_provider(provider)
    run, instrumentor_class = FRAMEWORKS[framework]()
    instrumentor = instrumentor_class()
    _block(run, 5)  # warm-up: imports, caches
    plain, instrumented = [], []
    for index in range(rounds):
        if index % 2:
            plain.append(_block(run, runs))
        instrumentor.instrument(tracer_provider=provider)
        try:
            instrumented.append(_block(run, runs))
        finally:
            instrumentor.uninstrument()
        if not index % 2:
            plain.append(_block(run, runs))
    added = [i - p for p, i in zip(plain, instrumented, strict=True)]
    return {
        "plain_ms": statistics.median(plain) * 1e3,
        "instrumented_ms": statistics.median(instrumented) * 1e3,
        "added_ms": statistics.median(added) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("framework", choices=sorted(FRAMEWORKS))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=30)
    options = parser.parse_args()
    result = measure(options.framework, options.rounds, options.runs)
    print(
        f"{options.framework}: {result['plain_ms']:.2f} ms per run plain, {result['instrumented_ms']:.2f} ms "
        f"instrumented, added {result['added_ms']:.3f} ms per run "
        f"(median of {options.rounds} rounds x {options.runs} runs)"
    )


if __name__ == "__main__":
    main()
