"""``xpander-otel run module:handler``: serve an ``@on_task`` handler, or run it once on a prompt.

With ``--prompt`` the task is made here (no platform involved) and run through the same traced path as
a task from xpander; the finished task is printed as JSON. Without it, the worker starts.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..config import Configuration
from ..models import Task
from . import protocol
from .decorator import OPTIONS_ATTRIBUTE, OnTaskOptions, worker_for
from .execution import execute
from .runner import show_worker_logs


def load_handler(spec: str) -> Callable[..., Any]:
    """``package.module:function`` -> the function (the current directory is importable, like ``python -m``)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected module:handler, got {spec!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    handler = importlib.import_module(module_name)
    for part in attribute.split("."):
        handler = getattr(handler, part)
    if not callable(handler):
        raise ValueError(f"{spec} is not callable")
    return handler


def local_task(prompt: str, configuration: Configuration, agent_id: str | None) -> Task:
    return Task(
        id=str(uuid.uuid4()),
        agent_id=agent_id or configuration.agent_id,
        organization_id=configuration.organization_id,
        input={"text": prompt, "files": [], "user": None},
        status=protocol.EXECUTING,
        created_at=datetime.now(timezone.utc).isoformat(),
        configuration=configuration,
    )


def run_command(spec: str, *, prompt: str | None = None, agent_id: str | None = None) -> int:
    """The ``run`` subcommand: exit 0 when the task completed (or the worker stopped cleanly)."""
    show_worker_logs()
    handler = load_handler(spec)
    if prompt is None:
        overrides = {"agent_id": agent_id} if agent_id else {}
        try:
            worker = worker_for(handler, **overrides)
        except ValueError as exc:
            print(f"xpander-otel run: {exc}", file=sys.stderr)
            return 2
        return asyncio.run(worker.run())
    options: OnTaskOptions = getattr(handler, OPTIONS_ATTRIBUTE, OnTaskOptions())
    task = local_task(prompt, options.configuration or Configuration(), agent_id or options.agent_id)
    finished = asyncio.run(execute(handler, task))
    shown = finished.model_dump(mode="json", include={"id", "agent_id", "status", "result", "tokens",
                                                      "used_tools"})
    print(json.dumps(shown, indent=2))
    return 0 if finished.status == protocol.COMPLETED else 1
