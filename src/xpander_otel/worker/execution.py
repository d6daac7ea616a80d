"""Run one task through the user's handler inside a task span, and settle its final state.

The task span (``xpander.task``, INTERNAL) is a new trace root carrying ``xpander.task.id`` and
``xpander.agent.id``; the handler also runs inside ``task_context.task(...)``, so the instrumented
``invoke_agent`` spans inside carry the platform's task id and report as that task, not a new one.
The task span itself is no agent span: the exporter's task root stays the top-most ``invoke_agent``.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel

from .. import llm_keys, semconv, task_context
from ..models import Task
from . import protocol
from .usage import RunUsageCollector

Handler = Callable[[Task], Task] | Callable[[Task], Awaitable[Task]]
TASK_SPAN_NAME = "xpander.task"
log = llm_keys.get_logger(__name__)

_collector: RunUsageCollector | None = None
_collector_lock = threading.Lock()


def usage_collector() -> RunUsageCollector:
    """The collector, added once to the global SDK tracer provider (one is installed if there is none).

    Without an SDK provider no span is recorded, so neither the task span nor the agent spans inside it
    would exist; installing a bare provider (no exporter) changes nothing the user configured.
    """
    global _collector
    with _collector_lock:
        if _collector is None:
            provider = trace.get_tracer_provider()
            if not isinstance(provider, TracerProvider):
                provider = TracerProvider()
                trace.set_tracer_provider(provider)
                provider = trace.get_tracer_provider()
            collector = RunUsageCollector()
            if isinstance(provider, TracerProvider):
                provider.add_span_processor(collector)
            _collector = collector
        return _collector


async def execute(handler: Handler, task: Task) -> Task:
    """Run ``handler(task)`` traced; return the task with its final status, result, tokens and tools.

    Never raises for the handler's errors: they become status ``error`` with the exception text as result.
    """
    collector = usage_collector()
    tracer = trace.get_tracer(__name__)
    attributes = {semconv.XPANDER_TASK_ID: task.id}
    if task.agent_id:
        attributes[semconv.XPANDER_AGENT_ID] = task.agent_id
    with tracer.start_as_current_span(TASK_SPAN_NAME, context=Context(), kind=SpanKind.INTERNAL,
                                      attributes=attributes, record_exception=False,
                                      set_status_on_exception=False) as span:
        trace_id = span.get_span_context().trace_id
        collector.watch(trace_id)
        try:
            with task_context.task(agent_id=task.agent_id, task_id=task.id):
                finished = _returned_task(handler, await call_handler(handler, task))
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.set_attribute("error.type", type(exc).__qualname__)
            log.warning("task %s failed: %s: %s", task.id, type(exc).__name__, llm_keys.scrub(str(exc)))
            finished = task
            finished.status = protocol.ERROR
            finished.result = llm_keys.scrub(str(exc)) or type(exc).__name__
        finally:
            run = collector.release(trace_id)
    if finished.status in (None, "pending", protocol.EXECUTING):
        finished.status = protocol.COMPLETED
    # What the handler set wins: it may know better (a framework we do not instrument, say).
    if finished.tokens is None:
        finished.tokens = run.tokens()
    if not finished.used_tools:
        finished.used_tools = run.used_tools()
    finished.result = _as_text(finished.result)
    return finished


async def call_handler(handler: Handler, task: Task) -> Any:
    """Await an async handler; run a sync one in its own daemon thread with the current context.

    A daemon thread (not the loop's executor) lets the worker stop while a sync handler hangs.
    """
    if inspect.iscoroutinefunction(handler):
        return await handler(task)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            result = context.run(handler, task)
        except BaseException as exc:
            loop.call_soon_threadsafe(_settle, done, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, done, result, None)

    threading.Thread(target=run, name=f"xpander-task-{task.id}", daemon=True).start()
    result = await done
    if inspect.isawaitable(result):  # a sync function that returned a coroutine
        result = await result
    return result


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _returned_task(handler: Handler, returned: Any) -> Task:
    if not isinstance(returned, Task):
        name = getattr(handler, "__name__", repr(handler))
        raise TypeError(f"@on_task handler {name!r} must return the Task, got {type(returned).__name__}")
    return returned


def _as_text(result: Any) -> str | None:
    """The platform stores text: structured results (dicts, lists, pydantic models) go as JSON."""
    if result is None or isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    try:
        return json.dumps(result, default=str)
    except (TypeError, ValueError):
        return str(result)
