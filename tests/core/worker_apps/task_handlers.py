"""``@on_task`` handlers the worker tests run in a worker process (``xpander-otel run task_handlers:...``).

``traced`` emits the spans an instrumented agent run emits (invoke_agent > chat, execute_tool, chat)
with the scripted LLM's usage, so the worker's token and tool collection is exercised without a framework.
"""

from __future__ import annotations

import asyncio
import time

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from xpander_otel import Task, on_task, semconv, task_context

tracer = trace.get_tracer("task_handlers")


def _chat(prompt_tokens: int, completion_tokens: int) -> None:
    with tracer.start_as_current_span("chat scripted", kind=SpanKind.CLIENT, attributes={
        semconv.OPERATION_NAME: "chat",
        semconv.USAGE_INPUT_TOKENS: prompt_tokens,
        semconv.USAGE_OUTPUT_TOKENS: completion_tokens,
    }):
        pass


@on_task
def traced(task: Task) -> Task:
    scope = task_context.current()
    task_span = trace.get_current_span()
    agent_attributes = {semconv.OPERATION_NAME: "invoke_agent", semconv.USAGE_INPUT_TOKENS: 130,
                        semconv.USAGE_OUTPUT_TOKENS: 22, **task_context.xpander_attributes("weather")}
    with tracer.start_as_current_span("invoke_agent weather", attributes=agent_attributes) as agent:
        _chat(50, 10)
        with tracer.start_as_current_span("execute_tool get_weather", attributes={
                semconv.OPERATION_NAME: "execute_tool", semconv.TOOL_NAME: "get_weather"}):
            pass
        _chat(80, 12)
    task.result = (f"done: {task.to_message()} | scope={scope.task_id}/{scope.agent_id}"
                   f" | task span={task_span.attributes[semconv.XPANDER_TASK_ID]}"
                   f" | agent span={agent.attributes[semconv.XPANDER_TASK_ID]}"
                   f" | same trace={agent.get_span_context().trace_id == task_span.get_span_context().trace_id}")
    return task


@on_task
def boom(task: Task) -> Task:
    raise RuntimeError(f"the weather tool exploded on {task.to_message()!r}")


@on_task(max_concurrency=2)
async def slow(task: Task) -> Task:
    await asyncio.sleep(float(task.to_message()))
    task.result = f"slept {task.to_message()}"
    return task


@on_task(stop_grace_seconds=1)
def hang(task: Task) -> Task:
    time.sleep(60)
    return task


@on_task
async def own_metrics(task: Task) -> Task:
    from xpander_otel import Tokens

    task.result = "counted by hand"
    task.tokens = Tokens(prompt_tokens=7, completion_tokens=3)
    task.used_tools = ["calculator"]
    task.status = "failed"
    return task


@on_task
def hang_long(task: Task) -> Task:
    time.sleep(120)  # outlives the default 30 s grace period
    return task
