"""``@on_task``: mark a function as the handler of an agent's tasks; running its module starts the worker.

>>> @on_task                                                   # doctest: +SKIP
... async def handle(task: Task) -> Task:
...     backend = Backend(task.configuration)
...     args = await backend.aget_args(agent_id=task.agent_id, agent_version=task.agent_version, task=task)
...     task.result = (await Agent(**args).arun(input=task.to_message())).content
...     return task

As with xpander-sdk, ``python handler.py`` blocks in the decorator and serves tasks until SIGINT/SIGTERM.
Imported from another module (a test, ``xpander-otel run module:handler``) it only marks the function.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import Configuration
from .runner import DEFAULT_MAX_CONCURRENCY, DEFAULT_STOP_GRACE_SECONDS, Worker, show_worker_logs

F = TypeVar("F", bound=Callable[..., Any])
OPTIONS_ATTRIBUTE = "__xpander_on_task__"


@dataclass(frozen=True)
class OnTaskOptions:
    configuration: Configuration | None = None
    agent_id: str | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS


def on_task(
    func: F | None = None,
    *,
    configuration: Configuration | None = None,
    agent_id: str | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS,
) -> Any:
    """Register ``func(task) -> Task`` (sync or async) as the agent's task handler.

    ``configuration`` defaults to the environment (``XPANDER_API_KEY``, ``XPANDER_ORGANIZATION_ID``,
    ``XPANDER_BASE_URL``, ``XPANDER_AGENT_ID``); at most ``max_concurrency`` tasks run at once; on
    SIGINT/SIGTERM running tasks get ``stop_grace_seconds`` before they are marked ``error``.
    """

    def decorate(handler: F) -> F:
        if "task" not in inspect.signature(handler).parameters:
            raise TypeError(f"@on_task handler {handler.__name__!r} must take a 'task' parameter")
        options = OnTaskOptions(configuration, agent_id, max_concurrency, stop_grace_seconds)
        setattr(handler, OPTIONS_ATTRIBUTE, options)
        if handler.__module__ == "__main__":
            _serve(handler, options)
        return handler

    return decorate(func) if func is not None else decorate


def worker_for(handler: Callable[..., Any], **overrides: Any) -> Worker:
    """A ``Worker`` for a handler, with the options its ``@on_task`` gave (a plain function works too)."""
    options: OnTaskOptions = getattr(handler, OPTIONS_ATTRIBUTE, OnTaskOptions())
    kwargs = {"configuration": options.configuration, "agent_id": options.agent_id,
              "max_concurrency": options.max_concurrency,
              "stop_grace_seconds": options.stop_grace_seconds, **overrides}
    return Worker(handler, **kwargs)


def _serve(handler: Callable[..., Any], options: OnTaskOptions) -> None:
    show_worker_logs()
    worker = worker_for(handler)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        sys.exit(asyncio.run(worker.run()))
    # Inside a running loop (a notebook): serve in the background instead of blocking it.
    asyncio.get_running_loop().create_task(worker.run())
