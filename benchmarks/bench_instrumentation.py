"""Added time per agent run for each instrumentor, on an in-process fake model.

The agent is the framework's real agent with its real OpenAI model class; only the HTTP transport is
replaced by an in-process one that answers from the scripted LLM (tool call, then answer), so the figure
is the instrumentor's cost, not the network's. Spans go through a real TracerProvider and a
SimpleSpanProcessor to an exporter that drops them.

    .nox/agno/bin/python benchmarks/bench_instrumentation.py --framework agno
    .nox/openai_agents/bin/python benchmarks/bench_instrumentation.py --framework openai_agents

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


SETUPS = {"agno": agno_setup, "openai_agents": openai_agents_setup}


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
