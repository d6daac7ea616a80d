"""Instrumentation overhead, side by side: the same agent workload bare, with ours, OpenInference and OpenLLMetry.

    python3 scripts/dev.py bench                      # every benchmark, each in its own nox environment
    python benchmarks/bench_overhead.py --framework agno --rounds 6 --json out.json   # inside bench_agno's venv

Workloads (a real framework agent whose OpenAI client is answered in-process by ``httpx.MockTransport``
with the scripted LLM's canned replies, usage included, so no network drowns the signal):

- ``tool_call``: one tool call, i.e. a model call that asks for the tool, the tool, a model call that answers;
- ``ten_steps``: ten tool calls, then the answer (11 model calls, 10 tool calls).

Modes: ``bare`` (no instrumentation), ``ours`` (our instrumentor, plus our exporter as users run it),
``ours_instrumentation`` (our instrumentor alone, exactly like the peers), ``openinference`` and
``openllmetry``. Every mode has the same ``BatchSpanProcessor`` with an exporter
that only keeps the spans, so only the instrumentation (and in ``ours`` our exporter) differs. Each
mode runs in a fresh process; rounds alternate the order of the modes. Every process is held on one
CPU (``--cpu``, the last one by default; ``-1`` lets the OS move it).

Cost is process CPU time (every thread: the batch processor and our delivery worker count) per run,
including a final flush; wall time is reported too. "Added" is a mode's median minus bare's median; the
same from each mode's fastest round is reported beside it (noise on a shared machine only adds time, and
it comes in bursts that can land on one mode's rounds more than another's).
Per emitted span divides the added cost by the *complete* spans the mode emits per run: agent and tool
spans, and model-call spans only when they carry the call's token usage.

``--pairs N``, the paired design: each mode's process (bare has none of its own) runs N pairs of blocks,
bare and the mode in turn (the mode switched on with ``instrument()`` and off with ``uninstrument()``;
our exporter stays installed and its flush is in the mode's block), and a mode's added cost is the
median pair difference; across processes, the median of those. What differs between processes (memory
layout, the CPU, a burst of a neighbour) then cancels out of each difference. A mode whose
``uninstrument()`` leaves the framework instrumented (a run after it still emits spans) is reported as
such and not measured.

    python benchmarks/bench_overhead.py --framework agno --pairs 10 --rounds 8 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

FRAMEWORKS = ("agno", "openai_agents")
MODES = ("bare", "ours", "ours_instrumentation", "openinference", "openllmetry")
WORKLOADS = {"tool_call": "scripted-weather", "ten_steps": "scripted-steps-10"}
# ten_steps is about ten times the work of tool_call: fewer runs keep each process's time alike.
RUNS_DIVISOR = {"tool_call": 1, "ten_steps": 5}
# Distributions whose versions the result records, per framework.
PACKAGES = {
    "agno": ("agno", "openai", "openinference-instrumentation-agno", "opentelemetry-instrumentation-agno",
             "opentelemetry-instrumentation-openai", "opentelemetry-sdk"),
    "openai_agents": ("openai-agents", "openai", "openinference-instrumentation-openai-agents",
                      "opentelemetry-instrumentation-openai-agents", "opentelemetry-sdk"),
}
QUESTION = "What is the weather in Paris?"


# --- the in-process model --------------------------------------------------------------------------------

def mock_transport(async_: bool):
    """An httpx transport answering Chat Completions and Responses requests with the scripted LLM's replies."""
    import httpx

    from xpander_otel.devserver.scripted_llm import ScriptedLLM

    llm = ScriptedLLM()

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        reply = llm.response(body) if request.url.path.endswith("/responses") else llm.completion(body)
        return httpx.Response(reply.status_code, content=reply.body, headers={"content-type": "application/json"})

    if not async_:
        return httpx.MockTransport(answer)

    async def answer_async(request: httpx.Request) -> httpx.Response:
        return answer(request)

    return httpx.MockTransport(answer_async)


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}, 22 degrees"


# --- workloads: one callable per framework that runs the agent once -------------------------------------

def agno_runner(model_name: str) -> Callable[[], Any]:
    import httpx
    from agno.agent import Agent
    from agno.models.openai import OpenAIChat

    model = OpenAIChat(id=model_name, api_key="sk-bench", base_url="http://bench.invalid/v1",
                       http_client=httpx.Client(transport=mock_transport(async_=False)))
    agent = Agent(name="weather", model=model, tools=[get_weather], telemetry=False)

    def run() -> None:
        output = agent.run(QUESTION)
        assert output.content, output
    return run


def openai_agents_runner(model_name: str) -> Callable[[], Any]:
    import httpx
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="sk-bench", base_url="http://bench.invalid/v1",
                         http_client=httpx.AsyncClient(transport=mock_transport(async_=True)))
    agent = Agent(name="weather", instructions="Answer briefly.", tools=[function_tool(get_weather)],
                  model=OpenAIResponsesModel(model=model_name, openai_client=client))
    loop = asyncio.new_event_loop()

    def run() -> None:
        result = loop.run_until_complete(Runner.run(agent, QUESTION, max_turns=20))
        assert result.final_output, result
    return run


# --- modes: what is installed on the tracer provider --------------------------------------------------

def instrument(framework: str, mode: str, provider, spool_dir: str) -> Callable[[], bool]:
    """Instrument for ``mode``; returns a flush that drains whatever the mode runs in the background."""
    switch_on, _, flush = install(framework, mode, provider, spool_dir)
    switch_on()
    return flush


def install(framework: str, mode: str, provider, spool_dir: str
            ) -> tuple[Callable[[], None], Callable[[], None], Callable[[], bool]]:
    """Install ``mode``'s processors; returns (on, off, flush): ``on`` instruments the framework, ``off``
    gives it back as ``bare`` runs it (the paired design switches between the two in one process), and
    ``flush`` drains whatever the mode runs in the background."""
    flushes = [lambda: provider.force_flush(30_000)]
    if framework == "openai_agents":
        # The SDK's default trace processor uploads to OpenAI: never in a benchmark, in no mode.
        from agents import set_trace_processors
        set_trace_processors([])
    if mode == "ours":
        import httpx

        from xpander_otel import Configuration
        from xpander_otel.exporter import XpanderSpanExporter, XpanderSpanProcessor

        exporter = XpanderSpanExporter(
            "agent-bench", configuration=Configuration(api_key="bench-key-0000", base_url="http://127.0.0.1:9"),
            spool_path=Path(spool_dir) / "spool.sqlite3", watch_global_provider=False,
            transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})))
        processor = XpanderSpanProcessor(exporter)
        provider.add_span_processor(processor)
        flushes += [lambda: processor.force_flush(30_000), lambda: exporter.force_flush(30_000)]
    instrumentors = _instrumentors(framework, mode)
    state = {"on": False, "trace_processors": None}

    def on() -> None:
        if state["on"]:
            return
        for instrumentor in instrumentors:
            instrumentor.instrument(tracer_provider=provider)
        if framework == "openai_agents":
            # Some instrumentations add their trace processor to the SDK only the first time: put back the
            # list the first ``on`` made when ``off`` emptied it.
            processors = _trace_processors()
            if state["trace_processors"] is None:
                state["trace_processors"] = processors
            elif not processors:
                from agents import set_trace_processors
                set_trace_processors(list(state["trace_processors"]))
        state["on"] = True

    def off() -> None:
        if not state["on"]:
            return
        for instrumentor in instrumentors:
            instrumentor.uninstrument()
        if framework == "openai_agents":
            # Not every instrumentation's uninstrument removes its trace processor from the SDK.
            from agents import set_trace_processors
            set_trace_processors([])
        state["on"] = False

    return on, off, lambda: all(flush() for flush in flushes)


def _trace_processors() -> list[Any]:
    from agents.tracing import get_trace_provider

    multi = getattr(get_trace_provider(), "_multi_processor", None)
    return list(getattr(multi, "_processors", ()))


def _instrumentors(framework: str, mode: str) -> list[Any]:
    if mode == "bare":
        return []
    if mode == "ours_instrumentation":
        mode = "ours"
    if framework == "agno":
        if mode == "ours":
            from xpander_otel.instrumentation.agno import AgnoInstrumentor
            return [AgnoInstrumentor()]
        if mode == "openinference":
            from openinference.instrumentation.agno import AgnoInstrumentor
            return [AgnoInstrumentor()]
        # OpenLLMetry's Agno instrumentation leaves model calls to its OpenAI-client instrumentation, which a
        # Traceloop user runs alongside: both, or it would emit no model spans at all.
        from opentelemetry.instrumentation.agno import AgnoInstrumentor
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
        return [AgnoInstrumentor(), OpenAIInstrumentor()]
    if mode == "ours":
        from xpander_otel.instrumentation.openai_agents import OpenAIAgentsInstrumentor
        return [OpenAIAgentsInstrumentor()]
    if mode == "openinference":
        from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
        return [OpenAIAgentsInstrumentor()]
    from opentelemetry.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    return [OpenAIAgentsInstrumentor()]


# --- spans a mode emits -------------------------------------------------------------------------------

def complete_spans(spans: Sequence[Any]) -> int:
    """Agent and tool spans, and model-call spans that carry the call's token usage (any convention)."""
    from xpander_otel.exporter import conventions as conv
    from xpander_otel.exporter.spans import SpanRecord

    count = 0
    for span in spans:
        record = SpanRecord.from_readable_span(span)
        family = conv.llm_family(record)
        if family is not None:
            count += not conv.llm_usage(record, family).is_empty
        else:
            count += conv.is_agent(record) or conv.tool_name(record) is not None
    return count


# --- the worker: one mode, fresh process ---------------------------------------------------------------

def _hold_on_cpu(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        # Every thread of the process on one CPU: migrations between CPUs made runs of one process cost up
        # to half as much again as the next process's on this machine; CPU time still counts every thread.
        os.sched_setaffinity(0, {cpu})


def _keeping_provider():
    """A tracer provider whose batch processor's exporter only keeps the spans (the same in every mode)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class KeepSpans(SpanExporter):
        def __init__(self) -> None:
            self.spans: list[Any] = []

        def export(self, spans):
            self.spans.extend(spans)
            return SpanExportResult.SUCCESS

    kept = KeepSpans()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(kept))
    return provider, kept


def worker(framework: str, mode: str, runs: int, warmup: int, cpu: int | None = None) -> dict[str, Any]:
    _hold_on_cpu(cpu)
    provider, kept = _keeping_provider()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as spool_dir:
        flush = instrument(framework, mode, provider, spool_dir)
        make = agno_runner if framework == "agno" else openai_agents_runner
        for workload, model_name in WORKLOADS.items():
            run = make(model_name)
            n = max(1, runs // RUNS_DIVISOR[workload])
            for _ in range(warmup):
                run()
            flush()
            kept.spans.clear()
            cpu, main, wall = time.process_time(), time.thread_time(), time.perf_counter()
            for _ in range(n):
                run()
            flush()
            cpu, main, wall = time.process_time() - cpu, time.thread_time() - main, time.perf_counter() - wall
            results[workload] = {
                "runs": n, "cpu_us_per_run": cpu / n * 1e6, "wall_us_per_run": wall / n * 1e6,
                # The application's thread apart from the rest (batch processors, our exporter's threads):
                # the machine's noise lands mostly on the former, a background cost shows in the latter.
                "main_thread_cpu_us_per_run": main / n * 1e6, "other_threads_cpu_us_per_run": (cpu - main) / n * 1e6,
                "spans_per_run": len(kept.spans) / n, "complete_spans_per_run": complete_spans(kept.spans) / n,
            }
            kept.spans.clear()
        provider.shutdown()
    return results


# --- the paired worker: bare and one mode, block by block, in one process ------------------------------

def paired_worker(framework: str, mode: str, runs: int, warmup: int, pairs: int,
                  cpu: int | None = None) -> dict[str, Any]:
    """Blocks of runs with ``mode`` switched on and off in turn (bare, mode, mode, bare, ...), each block
    followed by the flush, so that a mode's background work is charged to its own block.

    Both sides of a pair run in the same process, one right after the other: what moves between processes
    (their memory layout, the CPU they got, a noisy neighbour's burst) cancels out of each pair's
    difference, where the fresh-process design leaves it in.
    """
    import gc

    _hold_on_cpu(cpu)
    provider, kept = _keeping_provider()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as spool_dir:
        switch_on, switch_off, flush = install(framework, mode, provider, spool_dir)
        make = agno_runner if framework == "agno" else openai_agents_runner
        for workload, model_name in WORKLOADS.items():
            run = make(model_name)
            block = max(1, runs // RUNS_DIVISOR[workload] // pairs)
            for switch in (switch_on, switch_off):  # both sides warm before the first measured block
                switch()
                for _ in range(warmup):
                    run()
                flush()
                kept.spans.clear()
            run()
            flush()
            if kept.spans:
                # Its uninstrument leaves the framework instrumented: there is no bare side to pair with,
                # and each further switch would add a layer of its wrappers.
                results[workload] = {"restored_by_uninstrument": False, "bare_spans_per_run": len(kept.spans)}
                kept.spans.clear()
                continue
            cost: dict[bool, list[float]] = {False: [], True: []}
            spans = {False: 0, True: 0}
            complete = {False: 0, True: 0}
            for pair in range(pairs):
                for instrumented in ((False, True) if pair % 2 == 0 else (True, False)):
                    (switch_on if instrumented else switch_off)()
                    gc.collect()  # the previous block's garbage is not this block's to collect
                    start = time.process_time()
                    for _ in range(block):
                        run()
                    flush()
                    cost[instrumented].append((time.process_time() - start) / block * 1e6)
                    spans[instrumented] += len(kept.spans)
                    complete[instrumented] += complete_spans(kept.spans)
                    kept.spans.clear()
            switch_off()
            added = [on - off for on, off in zip(cost[True], cost[False], strict=True)]
            measured = pairs * block
            results[workload] = {
                "restored_by_uninstrument": True, "pairs": pairs, "block_runs": block,
                "bare_cpu_us_per_run": statistics.median(cost[False]),
                "cpu_us_per_run": statistics.median(cost[True]), "added_us_per_run": statistics.median(added),
                "added_us_per_run_pairs": added, "bare_spans_per_run": spans[False] / measured,
                "spans_per_run": spans[True] / measured, "complete_spans_per_run": complete[True] / measured,
            }
        provider.shutdown()
    return results


# --- the driver: rounds of fresh processes, then the table --------------------------------------------

def drive(framework: str, modes: Sequence[str], rounds: int, runs: int, warmup: int,
          cpu: int | None, pairs: int = 0) -> dict[str, Any]:
    """``pairs`` > 0: the paired design (``paired_worker``), one process per mode and round, bare in each."""
    if pairs:
        modes = [mode for mode in modes if mode != "bare"]
    samples: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for r in range(rounds):
        order = list(modes) if r % 2 == 0 else list(reversed(modes))
        for mode in order:
            print(f"round {r + 1}/{rounds}: {framework} {mode}", file=sys.stderr, flush=True)
            out = subprocess.run(
                [sys.executable, __file__, "--worker", "--framework", framework, "--modes", mode,
                 "--runs", str(runs), "--warmup", str(warmup), "--pairs", str(pairs),
                 *(["--cpu", str(cpu)] if cpu is not None else [])],
                check=True, capture_output=True, text=True, env={**os.environ, "AGNO_TELEMETRY": "false"})
            samples[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    return summarize_paired(framework, modes, samples) if pairs else summarize(framework, modes, samples)


def summarize(framework: str, modes: Sequence[str], samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {}
    for workload in WORKLOADS:
        rows: dict[str, Any] = {}
        for mode in modes:
            per_round = [s[workload] for s in samples[mode]]
            rows[mode] = {
                "cpu_us_per_run": statistics.median(p["cpu_us_per_run"] for p in per_round),
                # The machine's noise only ever adds time: the fastest round is the other estimate.
                "cpu_us_per_run_best": min(p["cpu_us_per_run"] for p in per_round),
                "wall_us_per_run": statistics.median(p["wall_us_per_run"] for p in per_round),
                "main_thread_cpu_us_per_run": statistics.median(p["main_thread_cpu_us_per_run"] for p in per_round),
                "other_threads_cpu_us_per_run": statistics.median(
                    p["other_threads_cpu_us_per_run"] for p in per_round),
                "spans_per_run": per_round[-1]["spans_per_run"],
                "complete_spans_per_run": per_round[-1]["complete_spans_per_run"],
            }
        for estimate in ("", "_best"):  # medians, then fastest rounds
            base = rows.get("bare", {}).get(f"cpu_us_per_run{estimate}")
            for mode, row in rows.items():
                if base is None or mode == "bare":
                    continue
                row[f"added_us_per_run{estimate}"] = row[f"cpu_us_per_run{estimate}"] - base
                spans = row["complete_spans_per_run"]
                row[f"added_us_per_complete_span{estimate}"] = (
                    row[f"added_us_per_run{estimate}"] / spans if spans else None)
            for mode in ("ours", "ours_instrumentation"):
                ours = rows.get(mode, {})
                for peer in ("openinference", "openllmetry"):
                    if peer in rows and f"added_us_per_run{estimate}" in ours:
                        ours[f"per_run_vs_{peer}{estimate}"] = _ratio(
                            ours[f"added_us_per_run{estimate}"], rows[peer][f"added_us_per_run{estimate}"])
                        ours[f"per_span_vs_{peer}{estimate}"] = _ratio(
                            ours.get(f"added_us_per_complete_span{estimate}"),
                            rows[peer].get(f"added_us_per_complete_span{estimate}"))
        table[workload] = rows
    return {"framework": framework, "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "rounds": len(next(iter(samples.values()))), "versions": _versions(framework),
            "workloads": table, "samples": samples}


def summarize_paired(framework: str, modes: Sequence[str],
                     samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per mode: the median over its processes of each process's median pair difference."""
    table: dict[str, dict[str, Any]] = {}
    for workload in WORKLOADS:
        rows: dict[str, Any] = {}
        for mode in modes:
            per_process = [s[workload] for s in samples[mode]]
            if not all(p["restored_by_uninstrument"] for p in per_process):
                # Its uninstrument leaves the framework instrumented (a bare run still emits spans): no bare
                # side to pair with, so no figures.
                rows[mode] = {"restored_by_uninstrument": False,
                              "bare_spans_per_run": max(p["bare_spans_per_run"] for p in per_process)}
                continue
            added = [p["added_us_per_run"] for p in per_process]
            spans = per_process[-1]["complete_spans_per_run"]
            rows[mode] = {
                "restored_by_uninstrument": True,
                "bare_cpu_us_per_run": statistics.median(p["bare_cpu_us_per_run"] for p in per_process),
                "cpu_us_per_run": statistics.median(p["cpu_us_per_run"] for p in per_process),
                "added_us_per_run": statistics.median(added), "added_us_per_run_processes": added,
                "bare_spans_per_run": per_process[-1]["bare_spans_per_run"],
                "spans_per_run": per_process[-1]["spans_per_run"], "complete_spans_per_run": spans,
                "added_us_per_complete_span": statistics.median(added) / spans if spans else None,
            }
        for mode in ("ours", "ours_instrumentation"):
            ours = rows.get(mode, {})
            for peer in ("openinference", "openllmetry"):
                if peer in rows and ours and ours["restored_by_uninstrument"] and rows[peer]["restored_by_uninstrument"]:
                    ours[f"per_run_vs_{peer}"] = _ratio(ours["added_us_per_run"], rows[peer]["added_us_per_run"])
                    ours[f"per_span_vs_{peer}"] = _ratio(ours["added_us_per_complete_span"],
                                                         rows[peer]["added_us_per_complete_span"])
        table[workload] = rows
    return {"framework": framework, "design": "paired", "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "rounds": len(next(iter(samples.values()))),
            "versions": _versions(framework), "workloads": table, "samples": samples}


def _ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either added cost is not above zero (within the noise: no ratio to speak of)."""
    return a / b if a is not None and b is not None and a > 0 and b > 0 else None


def _versions(framework: str) -> dict[str, str]:
    found = {}
    for name in PACKAGES[framework]:
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def fmt(value: Any, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def render(result: dict[str, Any]) -> str:
    if result.get("design") == "paired":
        return render_paired(result)

    lines = [f"### {result['framework']} ({', '.join(f'{k} {v}' for k, v in result['versions'].items())})", ""]
    for workload, rows in result["workloads"].items():
        lines += [f"**{workload}**", "",
                  "| mode | CPU µs/run | added µs/run | spans/run | complete spans/run | added µs/complete span "
                  "| fastest round: CPU µs/run | added µs/run | application thread µs/run | other threads µs/run |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for mode, row in rows.items():
            lines.append(f"| {mode} | {fmt(row['cpu_us_per_run'])} | {fmt(row.get('added_us_per_run'))} | "
                         f"{fmt(row['spans_per_run'], '.1f')} | {fmt(row['complete_spans_per_run'], '.1f')} | "
                         f"{fmt(row.get('added_us_per_complete_span'))} | {fmt(row['cpu_us_per_run_best'])} | "
                         f"{fmt(row.get('added_us_per_run_best'))} | {fmt(row.get('main_thread_cpu_us_per_run'))} | "
                         f"{fmt(row.get('other_threads_cpu_us_per_run'))} |")
        lines += ["", *_ratio_lines(rows), ""]
    return "\n".join(lines)


def _ratio_lines(rows: dict[str, Any]) -> list[str]:
    # "-": an added cost at or below zero, i.e. within the noise of the machine.
    lines = []
    for mode in ("ours", "ours_instrumentation"):
        ratios = [f"{key.replace('_best', ' (fastest rounds)').replace('_', ' ')} = {fmt(value, '.2f')}"
                  for key, value in rows.get(mode, {}).items() if "_vs_" in key]
        if ratios:
            lines.append(f"{mode} / peer: " + "; ".join(ratios) + "  ")
    return lines


def render_paired(result: dict[str, Any]) -> str:
    lines = [f"### {result['framework']}, paired ({', '.join(f'{k} {v}' for k, v in result['versions'].items())})",
             ""]
    for workload, rows in result["workloads"].items():
        lines += [f"**{workload}**", "",
                  "| mode | bare CPU µs/run | mode CPU µs/run | added µs/run (median of processes) "
                  "| per process | complete spans/run | added µs/complete span |",
                  "| --- | ---: | ---: | ---: | --- | ---: | ---: |"]
        for mode, row in rows.items():
            if not row["restored_by_uninstrument"]:
                lines.append(f"| {mode}: its uninstrument leaves the framework instrumented ({row['bare_spans_per_run']} "
                             "spans from a run after it), not measured | | | | | | |")
                continue
            spread = ", ".join(fmt(v) for v in row["added_us_per_run_processes"])
            lines.append(f"| {mode} | {fmt(row['bare_cpu_us_per_run'])} | {fmt(row['cpu_us_per_run'])} | "
                         f"{fmt(row['added_us_per_run'])} | {spread} | {fmt(row['complete_spans_per_run'], '.1f')} "
                         f"| {fmt(row['added_us_per_complete_span'])} |")
        lines += ["", *_ratio_lines(rows), ""]
    return "\n".join(lines)


def _last_cpu() -> int | None:
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return max(cpus) if cpus else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=FRAMEWORKS, required=True)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated, from " + ", ".join(MODES))
    parser.add_argument("--rounds", type=int, default=6, help="fresh processes per mode, alternating order")
    parser.add_argument("--runs", type=int, default=200, help="measured tool_call runs per process (ten_steps: a fifth)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--cpu", type=int, default=_last_cpu(),
                        help="run every mode's process on this CPU only (-1: let the OS move them)")
    parser.add_argument("--pairs", type=int, default=0,
                        help="the paired design: this many bare/mode block pairs in each process (0: off)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    cpu = args.cpu if args.cpu is not None and args.cpu >= 0 else None
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    if args.worker:
        if args.pairs:
            print(json.dumps(paired_worker(args.framework, modes[0], args.runs, args.warmup, args.pairs, cpu)))
        else:
            print(json.dumps(worker(args.framework, modes[0], args.runs, args.warmup, cpu)))
        return 0
    result = drive(args.framework, modes, args.rounds, args.runs, args.warmup, cpu, args.pairs)
    result["cpu"] = cpu
    print(render(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
