"""The xpander worker protocol (xpander-sdk 2.x): URLs, event names and bodies, shared by worker and dev server.

Tasks arrive as Server-Sent Events on ``GET {events}/{agent_id}/?environment=...&supports_llm_gateway=true``;
the worker answers with events ``POST {events}/{worker_id}?type=worker&agent_id=...`` and task updates
``PATCH /agent-execution/{task_id}/update``. ``{events}`` is ``{base}/{organization_id}/events``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode, urlparse

from ..config import Configuration

# SSE event names (server -> worker).
WORKER_REGISTRATION = "worker-registration"
AGENT_EXECUTION = "agent-execution"
ENVIRONMENT_CONFLICT = "worker-environment-conflict"
# Worker -> server event names.
WORKER_HEARTBEAT = "worker-heartbeat"
WORKER_CAPACITY_UPDATE = "worker-capacity-update"
WORKER_FINISHED = "worker-finished"

# Task statuses the worker writes.
EXECUTING = "executing"
COMPLETED = "completed"
ERROR = "error"

HEARTBEAT_INTERVAL_SECONDS = 2.0

# The platform's public API host streams events from its agent-controller (as xpander-sdk does).
_CLOUD_EVENT_HOSTS = {
    "inbound.xpander.ai": "https://agent-controller.xpander.ai",
    "inbound.stg.xpander.ai": "https://agent-controller.stg.xpander.ai",
}
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def events_base(configuration: Configuration) -> str:
    """``{base}/{organization_id}/events``: where a worker listens and posts its events."""
    if not configuration.organization_id:
        raise ValueError("the worker needs an organization id: set XPANDER_ORGANIZATION_ID or "
                         "pass Configuration(organization_id=...)")
    parsed = urlparse(configuration.base_url)
    host = (parsed.hostname or "").lower()
    base = _CLOUD_EVENT_HOSTS.get(host, configuration.base_url)
    if parsed.port == 8085 and host in _LOOPBACK:
        base = "http://localhost:9016"  # xpander's local stack: API on 8085, agent-controller on 9016
    return f"{base}/{configuration.organization_id}/events"


def listen_url(configuration: Configuration, agent_id: str, environment: str) -> str:
    """The SSE stream of one agent's tasks (trailing slash before the query, as the controller wants)."""
    query = urlencode({"environment": environment, "supports_llm_gateway": "true"})
    return f"{events_base(configuration)}/{agent_id}/?{query}"


def worker_event_url(configuration: Configuration, worker_id: str, agent_id: str) -> str:
    return f"{events_base(configuration)}/{worker_id}?{urlencode({'type': 'worker', 'agent_id': agent_id})}"


def task_update_url(configuration: Configuration, task_id: str) -> str:
    return f"{configuration.get_full_url()}/agent-execution/{task_id}/update"


def event_body(event: str, data: Any) -> dict[str, Any]:
    """A worker event as xpander-sdk sends it: ``{id, event, data}``."""
    return {"id": str(uuid.uuid4()), "event": event, "data": data}


def heartbeat_body() -> dict[str, Any]:
    return event_body(WORKER_HEARTBEAT, datetime.now(timezone.utc).isoformat())


def capacity_body(is_busy: bool) -> dict[str, Any]:
    return event_body(WORKER_CAPACITY_UPDATE, {"is_busy": is_busy})
