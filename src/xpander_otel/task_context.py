"""Which xpander agent and task an agent run belongs to.

Three sources, read by the instrumentors when they open an ``invoke_agent`` span:

1. ``with xpander_otel.task(agent_id=..., task_id=...):`` around the run (a context variable, so it
   follows asyncio tasks and ``contextvars.copy_context()`` into threads);
2. the framework agent's own metadata under ``METADATA_AGENT_ID`` / ``METADATA_TASK_ID`` (the
   ``get_args`` builders put them there where the framework has a metadata field);
3. the agent's name, registered by ``get_args`` (``register_agent``), for frameworks without metadata.

This module holds no OpenTelemetry exporter logic: instrumentation and builders both import it.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import semconv

METADATA_AGENT_ID = "xpander_agent_id"
METADATA_TASK_ID = "xpander_task_id"


@dataclass(frozen=True)
class TaskScope:
    agent_id: str | None = None
    task_id: str | None = None


_current: contextvars.ContextVar[TaskScope | None] = contextvars.ContextVar("xpander_task_scope", default=None)
_agent_ids_by_name: dict[str, str] = {}
_lock = threading.Lock()


@contextlib.contextmanager
def task(agent_id: str | None = None, task_id: str | None = None) -> Iterator[TaskScope]:
    """Report the agent runs inside this block under ``agent_id`` / ``task_id``.

    >>> with task(agent_id="agent-123", task_id="ext-job-9921"):   # doctest: +SKIP
    ...     agent.run("Summarize Q4 earnings")
    """
    scope = TaskScope(agent_id=agent_id, task_id=task_id)
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def current() -> TaskScope | None:
    """The innermost ``task()`` scope, if any."""
    return _current.get()


def register_agent(name: str, agent_id: str) -> None:
    """Remember that framework agents called ``name`` are the xpander agent ``agent_id``."""
    if name:
        with _lock:
            _agent_ids_by_name[name] = agent_id


def agent_id_for(name: str | None) -> str | None:
    return _agent_ids_by_name.get(name) if name else None


def xpander_attributes(agent_name: str | None = None, metadata: Mapping[str, Any] | None = None) -> dict[str, str]:
    """``xpander.agent.id`` / ``xpander.task.id`` for an agent span, from the three sources in order."""
    scope = _current.get()
    meta = metadata or {}
    agent_id = (scope and scope.agent_id) or meta.get(METADATA_AGENT_ID) or agent_id_for(agent_name)
    task_id = (scope and scope.task_id) or meta.get(METADATA_TASK_ID)
    attributes: dict[str, str] = {}
    if agent_id:
        attributes[semconv.XPANDER_AGENT_ID] = str(agent_id)
    if task_id:
        attributes[semconv.XPANDER_TASK_ID] = str(task_id)
    return attributes
