"""Added time per agent run for each instrumentor, on an in-process fake model.

The agent is the framework's real agent with its real OpenAI model class; only the HTTP transport is
replaced by an in-process one that answers from the scripted LLM (tool call, then answer), so the figure
is the instrumentor's cost, not the network's. Spans go through a real TracerProvider and a
SimpleSpanProcessor to an exporter that drops them.

    .nox/agno/bin/python benchmarks/bench_instrumentation.py --framework agno
    .nox/openai_agents/bin/python benchmarks/bench_instrumentation.py --framework openai_agents
    .nox/langchain/bin/python benchmarks/bench_instrumentation.py --framework langchain
    .nox/strands/bin/python benchmarks/bench_instrumentation.py --framework strands
    .nox/google_adk/bin/python benchmarks/bench_instrumentation.py --framework google_adk

Prints one line per framework: baseline and instrumented CPU microseconds per run (medians over rounds,
uninstrumented and instrumented rounds interleaved) and the added time (median of the per-round
differences, with its interquartile range).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from xpander_otel.devserver.scripted_llm import ScriptedLLM


class _DropExporter(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def _transport(httpx_module: Any) -> Any:
    """An in-process transport answering Chat Completions and Responses requests like the scripted LLM."""
    llm = ScriptedLLM()

    def handle(request: Any) -> Any:
        body = json.loads(request.content)
        reply = llm.response(body) if request.url.path.endswith("/responses") else llm.completion(body)
        llm.requests.clear()
        return httpx_module.Response(reply.status_code, content=reply.body,
                                     headers={"content-type": "application/json"})

    return httpx_module.MockTransport(handle)


@dataclass
class Setup:
    name: str
    run_once: Callable[[], Any]
    instrumentor: Any


def agno_setup() -> Setup:
    import httpx2
    from agno.agent import Agent
    from agno.models.openai import OpenAIChat
    from openai import OpenAI

    from xpander_otel.instrumentation.agno import AgnoInstrumentor

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    model = OpenAIChat(id="scripted-weather", api_key="sk-bench")
    # agno accepts only an httpx.Client as http_client; the OpenAI client it uses is given directly.
    model.client = OpenAI(base_url="http://fake.local/v1", api_key="sk-bench",
                          http_client=httpx2.Client(transport=_transport(httpx2)))
    agent = Agent(name="weather", model=model, tools=[get_weather], telemetry=False)
    return Setup("agno", lambda: agent.run("weather?"), AgnoInstrumentor())


def openai_agents_setup() -> Setup:
    import httpx2
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_export_api_key
    from openai import AsyncOpenAI

    from xpander_otel.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    # The SDK's own trace processors stay as users have them; without an OpenAI key its exporter only
    # warns, on every batch, so the warning is silenced.
    set_tracing_export_api_key("")
    logging.getLogger("openai.agents").setLevel(logging.ERROR)

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    client = AsyncOpenAI(base_url="http://fake.local/v1", api_key="sk-bench",
                         http_client=httpx2.AsyncClient(transport=_transport(httpx2)))
    agent = Agent(name="weather", model=OpenAIResponsesModel(model="scripted-weather", openai_client=client),
                  tools=[get_weather])
    loop = asyncio.new_event_loop()
    return Setup("openai_agents", lambda: loop.run_until_complete(Runner.run(agent, "weather?")),
                 OpenAIAgentsInstrumentor())


def _streaming_transport(httpx_module: Any) -> Any:
    """Like ``_transport``, for clients that always stream (Strands): server-sent events rendered in-process."""
    llm = ScriptedLLM()

    async def handle(request: Any) -> Any:
        reply = llm.completion(json.loads(request.content))
        llm.requests.clear()
        if not hasattr(reply, "body_iterator"):
            return httpx_module.Response(reply.status_code, content=reply.body,
                                         headers={"content-type": "application/json"})
        events = [c.encode() if isinstance(c, str) else c async for c in reply.body_iterator]
        return httpx_module.Response(reply.status_code, content=b"".join(events),
                                     headers={"content-type": "text/event-stream"})

    return httpx_module.MockTransport(handle)


def langchain_setup() -> Setup:
    import httpx2
    from langchain.agents import create_agent
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    from xpander_otel.instrumentation.langchain import LangChainInstrumentor

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    model = ChatOpenAI(model="scripted-weather", base_url="http://fake.local/v1", api_key="sk-bench",
                       http_client=httpx2.Client(transport=_transport(httpx2)))
    agent = create_agent(model, tools=[get_weather], name="weather")
    question = {"messages": [{"role": "user", "content": "weather?"}]}
    return Setup("langchain", lambda: agent.invoke(question), LangChainInstrumentor())


def strands_setup() -> Setup:
    """Strands emits its spans natively: without a global tracer provider they are no-ops in the baseline,
    so the figure includes recording them, which the instrumentor turns on."""
    import httpx2
    from openai import AsyncOpenAI
    from strands import Agent, tool
    from strands.models.openai import OpenAIModel

    from xpander_otel.instrumentation.strands import StrandsInstrumentor

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    client = AsyncOpenAI(base_url="http://fake.local/v1", api_key="sk-bench",
                         http_client=httpx2.AsyncClient(transport=_streaming_transport(httpx2)))
    model = OpenAIModel(client=client, model_id="scripted-weather")

    def run_once() -> Any:
        return Agent(model=model, tools=[get_weather], name="weather", callback_handler=None)("weather?")

    return Setup("strands", run_once, StrandsInstrumentor())


def google_adk_setup() -> Setup:
    """ADK's LLM calls go through LiteLLM, which takes no HTTP transport: the model here is an in-process
    ``BaseLlm`` answering like the scripted LLM (tool call, then answer, same usage). As for Strands, the
    figure includes recording ADK's native spans."""
    from google.adk.agents import LlmAgent
    from google.adk.models.base_llm import BaseLlm
    from google.adk.models.llm_response import LlmResponse
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    from xpander_otel.instrumentation.google_adk import GoogleADKInstrumentor

    class ScriptedBaseLlm(BaseLlm):
        async def generate_content_async(self, llm_request: Any, stream: bool = False):
            answered = any(p.function_response for p in llm_request.contents[-1].parts or ())
            if answered:
                part, usage = types.Part(text="It is sunny in Paris, 22 degrees."), (80, 12)
            else:
                part = types.Part(function_call=types.FunctionCall(name="get_weather", args={"city": "Paris"}, id="call_1"))
                usage = (50, 10)
            yield LlmResponse(
                content=types.Content(role="model", parts=[part]),
                usage_metadata=types.GenerateContentResponseUsageMetadata(
                    prompt_token_count=usage[0], candidates_token_count=usage[1], total_token_count=sum(usage)),
            )

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    agent = LlmAgent(name="weather", model=ScriptedBaseLlm(model="scripted-weather"), tools=[get_weather])
    runner = InMemoryRunner(agent=agent, app_name="bench")
    message = types.Content(role="user", parts=[types.Part(text="weather?")])
    loop = asyncio.new_event_loop()

    async def run_async() -> list[Any]:
        session = await runner.session_service.create_session(app_name="bench", user_id="u")
        return [e async for e in runner.run_async(user_id="u", session_id=session.id, new_message=message)]

    return Setup("google_adk", lambda: loop.run_until_complete(run_async()), GoogleADKInstrumentor())


SETUPS = {"agno": agno_setup, "openai_agents": openai_agents_setup, "langchain": langchain_setup,
          "strands": strands_setup, "google_adk": google_adk_setup}


def _per_run_us(run_once: Callable[[], Any], runs: int) -> float:
    # CPU time of the whole process (every thread): on a shared machine, wall time mostly measures the
    # neighbours; the instrumentor's cost is CPU work.
    start = time.process_time()
    for _ in range(runs):
        run_once()
    return (time.process_time() - start) / runs * 1e6


def measure(framework: str, *, runs: int = 20, rounds: int = 30) -> dict[str, float]:
    """µs per run without and with the instrumentor: short rounds interleaved after a warm-up, so drift
    on a shared machine hits both alike; ``added_us`` is the median of the per-round differences."""
    setup = SETUPS[framework]()
    exporter = _DropExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for _ in range(max(runs, 1)):
        setup.run_once()
    plain, traced = [], []
    for _ in range(rounds):
        plain.append(_per_run_us(setup.run_once, runs))
        setup.instrumentor.instrument(tracer_provider=provider)
        exporter.spans = 0
        traced.append(_per_run_us(setup.run_once, runs))
        spans_per_run = exporter.spans / runs
        setup.instrumentor.uninstrument()
    added = [t - p for p, t in zip(plain, traced, strict=True)]
    return {
        "baseline_us": statistics.median(plain),
        "instrumented_us": statistics.median(traced),
        "added_us": statistics.median(added),
        "added_iqr_us": _iqr(added),
        "spans_per_run": spans_per_run,
    }


def _iqr(values: list[float]) -> float:
    if len(values) < 4:
        return float("nan")
    q = statistics.quantiles(values, n=4)
    return q[2] - q[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", choices=sorted(SETUPS), action="append")
    parser.add_argument("--runs", type=int, default=20, help="agent runs per round")
    parser.add_argument("--rounds", type=int, default=30, help="rounds of each kind, interleaved")
    options = parser.parse_args()
    for framework in options.framework or sorted(SETUPS):
        figures = measure(framework, runs=options.runs, rounds=options.rounds)
        print(f"{framework}: baseline {figures['baseline_us']:.0f} µs/run, instrumented "
              f"{figures['instrumented_us']:.0f} µs/run, added {figures['added_us']:.0f} µs/run "
              f"(IQR {figures['added_iqr_us']:.0f}; {figures['spans_per_run']:.0f} spans/run; "
              f"{options.runs} runs x {options.rounds} rounds)")


if __name__ == "__main__":
    main()
