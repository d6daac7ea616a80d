"""The dev server's side of the xpander worker protocol: task creation, the SSE events endpoint, updates.

>>> hub = EventsHub(InMemoryTaskStore())                      # doctest: +SKIP
>>> app = Starlette(routes=events_routes(hub))                 # doctest: +SKIP

- ``GET /{organization_id}/events/{agent_id}/?environment=local`` streams ``worker-registration`` first,
  then one ``agent-execution`` event per pending task of the agent (frames are ``event:`` plus the bare
  JSON payload as ``data:``). A worker of another environment already connected for the agent gets
  ``worker-environment-conflict`` instead. A closed stream gives its unstarted tasks back to the queue.
- ``POST /{organization_id}/events/{worker_id}?type=worker&agent_id=...``: heartbeat and capacity events.
- ``POST /agent-execution/{agent_id}`` with ``{input: {text}}`` creates a pending task (``run_locally``
  tasks are for the creating worker and never pushed); ``PATCH /agent-execution/{task_id}/update``
  stores the worker's update and answers the task as written.

Tasks live behind ``TaskStore`` (in memory here; the dev server's SQLite storage implements it too).
Everything runs on the server's event loop, so the hub needs no locks of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from ..worker import protocol

DEFAULT_ORGANIZATION_ID = "local-organization"
PENDING = "pending"
TERMINAL_STATUSES = {"completed", "error", "failed", "stopped"}
# Fields a worker's update may not change: they identify the task.
_FIXED_FIELDS = {"id", "agent_id", "organization_id", "created_at", "configuration"}
_KEEPALIVE_SECONDS = 10.0


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


class TaskStore(Protocol):
    """Where tasks created over the events API live. Tasks are JSON objects (dicts)."""

    def create_task(self, task: dict[str, Any]) -> dict[str, Any]: ...

    def get_task(self, task_id: str) -> dict[str, Any] | None: ...

    def update_task(self, task_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Merge ``fields`` into the task; None when there is no such task."""
        ...

    def pending_tasks(self, agent_id: str) -> list[dict[str, Any]]:
        """The agent's pending tasks to push to workers (not ``run_locally``), oldest first."""
        ...


class InMemoryTaskStore:
    """A ``TaskStore`` in a dict: for tests and for servers that keep nothing."""

    def __init__(self) -> None:
        self._tasks: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def create_task(self, task: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._tasks[task["id"]] = dict(task)
            return dict(task)

    def get_task(self, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            task = self._tasks.get(task_id)
            return dict(task) if task else None

    def update_task(self, task_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return None
            task.update(fields)
            return dict(task)

    def pending_tasks(self, agent_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(t) for t in self._tasks.values()
                    if t["agent_id"] == agent_id and t.get("status") == PENDING and not t.get("run_locally")]


@dataclass
class WorkerConnection:
    """One open event stream: the worker asset it registered and what it was given."""

    asset: dict[str, Any]
    agent_id: str
    environment: str
    busy: bool = False
    claimed: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        return self.asset["id"]


class EventsHub:
    """Connected workers per agent, and which pending task goes to which worker.

    ``organization_of(agent_id)`` names the agent's organization; ``agent_exists(agent_id)`` lets the
    server refuse tasks for unknown agents (404).
    """

    def __init__(
        self,
        store: TaskStore,
        *,
        organization_of: Callable[[str], str | None] = lambda _: None,
        agent_exists: Callable[[str], bool] = lambda _: True,
        keepalive_seconds: float = _KEEPALIVE_SECONDS,
    ) -> None:
        self.store = store
        self.organization_of = organization_of
        self.agent_exists = agent_exists
        self.keepalive_seconds = keepalive_seconds
        self.connections: dict[str, WorkerConnection] = {}
        self._claims: dict[str, str] = {}  # task id -> worker id it was pushed to
        self._changed: asyncio.Condition | None = None
        self._names = itertools.count(1)

    # --- tasks -------------------------------------------------------------------------------------

    async def create_task(self, agent_id: str, body: dict[str, Any], agent_version: Any = None) -> dict[str, Any]:
        task = {
            **body,
            "id": body.get("id") or str(uuid.uuid4()),
            "agent_id": agent_id,
            "organization_id": self.organization_of(agent_id) or DEFAULT_ORGANIZATION_ID,
            "input": _task_input(body.get("input")),
            "status": PENDING,
            "created_at": now_iso(),
            "agent_version": _version_text(agent_version if agent_version is not None else body.get("agent_version")),
            "result": None,
            "tokens": None,
            "used_tools": [],
            "run_locally": bool(body.get("run_locally")),
        }
        created = self.store.create_task(task)
        await self._notify()
        return created

    async def update_task(self, task_id: str, body: dict[str, Any]) -> dict[str, Any] | None:
        current = self.store.get_task(task_id)
        if current is None:
            return None
        fields = {k: v for k, v in body.items() if k not in _FIXED_FIELDS}
        status = fields.get("status", current.get("status"))
        if status == protocol.EXECUTING and not current.get("started_at"):
            fields["started_at"] = now_iso()
        if status in TERMINAL_STATUSES and not current.get("finished_at"):
            fields["finished_at"] = now_iso()
            if not fields.get("duration") and current.get("started_at"):
                fields["duration"] = _seconds_between(current["started_at"], fields["finished_at"])
        updated = self.store.update_task(task_id, fields)
        if updated is not None and updated.get("status") != PENDING:
            self._release_claim(task_id)
        return updated

    # --- workers -----------------------------------------------------------------------------------

    def register(self, agent_id: str, organization_id: str, environment: str) -> WorkerConnection:
        stamp = now_iso()
        asset = {
            "id": str(uuid.uuid4()),
            "name": f"local-worker-{next(self._names)}",
            "organization_id": organization_id,
            "type": "worker",
            "created_at": stamp,
            "created_by": None,
            "last_heartbeat": stamp,
            "configuration": None,
            "dedicated_agent_id": agent_id,
            "parent_asset_id": None,
            "is_busy": False,
            "metadata": None,
        }
        connection = WorkerConnection(asset=asset, agent_id=agent_id, environment=environment)
        self.connections[connection.id] = connection
        return connection

    def conflict_for(self, agent_id: str, environment: str) -> str | None:
        """Why a worker of ``environment`` may not serve the agent now, or None."""
        for other in self.connections.values():
            if other.agent_id == agent_id and other.environment != environment:
                return (f"agent {agent_id} already has a worker connected in environment "
                        f"{other.environment!r}; this one asked for {environment!r}")
        return None

    async def disconnect(self, connection: WorkerConnection) -> None:
        self.connections.pop(connection.id, None)
        for task_id in list(connection.claimed):
            self._release_claim(task_id)
        await self._notify()

    async def worker_event(self, worker_id: str, body: dict[str, Any]) -> bool:
        connection = self.connections.get(worker_id)
        if connection is None:
            return False
        event = body.get("event")
        if event == protocol.WORKER_HEARTBEAT:
            connection.asset["last_heartbeat"] = now_iso()
        elif event == protocol.WORKER_CAPACITY_UPDATE:
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            connection.busy = bool(data.get("is_busy"))
            connection.asset["is_busy"] = connection.busy
            await self._notify()
        return True

    async def stream(self, connection: WorkerConnection) -> AsyncIterator[str]:
        """The SSE frames of one connection: registration, then tasks as they become pending."""
        yield sse_frame(protocol.WORKER_REGISTRATION, connection.asset)
        try:
            while True:
                task = None if connection.busy else self._claim(connection)
                if task is not None:
                    yield sse_frame(protocol.AGENT_EXECUTION, task)
                    continue
                if not await self._wait_for_change(self.keepalive_seconds):
                    yield ": keepalive\n\n"
        finally:
            await self.disconnect(connection)

    def _claim(self, connection: WorkerConnection) -> dict[str, Any] | None:
        for task in self.store.pending_tasks(connection.agent_id):
            if task["id"] not in self._claims:
                self._claims[task["id"]] = connection.id
                connection.claimed.add(task["id"])
                return task
        return None

    def _release_claim(self, task_id: str) -> None:
        worker_id = self._claims.pop(task_id, None)
        connection = self.connections.get(worker_id) if worker_id else None
        if connection is not None:
            connection.claimed.discard(task_id)

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        condition = self._condition()
        async with condition:
            condition.notify_all()

    async def _wait_for_change(self, timeout: float) -> bool:
        condition = self._condition()
        async with condition:
            try:
                await asyncio.wait_for(condition.wait(), timeout)
            except asyncio.TimeoutError:
                return False
        return True


def _version_text(version: Any) -> str | None:
    # xpander sends agent versions as strings; xpander-sdk's Task refuses a number there.
    return None if version is None or version == "" else str(version)


def _seconds_between(start: str, end: str) -> float | None:
    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
    except (TypeError, ValueError):
        return None


def sse_frame(event: str, payload: Any) -> str:
    """One SSE frame: the event name and the bare JSON payload (no wrapper object), as xpander sends."""
    return f"event: {event}\ndata: {json.dumps(payload, default=str)}\n\n"


def _task_input(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = {"text": value}
    value = value if isinstance(value, dict) else {}
    return {"text": value.get("text") or "", "files": list(value.get("files") or []),
            "user": value.get("user"), **{k: v for k, v in value.items() if k not in ("text", "files", "user")}}


# --- routes ----------------------------------------------------------------------------------------


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def events_routes(hub: EventsHub) -> list[Route]:
    """The protocol's routes, bound to ``hub``; mount them on the server's root."""

    async def listen(request: Request) -> Response:
        agent_id = request.path_params["agent_id"]
        organization_id = request.path_params["organization_id"]
        environment = request.query_params.get("environment", "local")
        if not hub.agent_exists(agent_id):
            return _error(404, f"agent {agent_id!r} not found")
        conflict = hub.conflict_for(agent_id, environment)
        if conflict:
            frames = _one(sse_frame(protocol.ENVIRONMENT_CONFLICT, {"error": conflict}))
        else:
            frames = hub.stream(hub.register(agent_id, organization_id, environment))
        return StreamingResponse(frames, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def worker_event(request: Request) -> Response:
        body = await _json_object(request)
        if body is None:
            return _error(400, "a worker event is a JSON object {id, event, data}")
        if not await hub.worker_event(request.path_params["worker_id"], body):
            return _error(404, "unknown worker: reconnect to the events stream to register again")
        return JSONResponse({"id": body.get("id"), "event": body.get("event"), "received": True})

    async def create_task(request: Request) -> Response:
        agent_id = request.path_params["agent_id"]
        if not hub.agent_exists(agent_id):
            return _error(404, f"agent {agent_id!r} not found")
        body = await _json_object(request)
        if body is None or not isinstance(body.get("input", {}), (dict, str)):
            return _error(400, 'a task is a JSON object like {"input": {"text": "..."}}')
        task = await hub.create_task(agent_id, body, request.headers.get("x-agent-version"))
        return JSONResponse(task, status_code=201)

    async def update_task(request: Request) -> Response:
        body = await _json_object(request)
        if body is None:
            return _error(400, "a task update is a JSON object")
        task = await hub.update_task(request.path_params["task_id"], body)
        if task is None:
            return _error(404, f"task {request.path_params['task_id']!r} not found")
        return JSONResponse(task)

    async def execution_metrics(request: Request) -> Response:
        # xpander-sdk's worker reports metrics after each task; the PATCH already carried them.
        body = await _json_object(request)
        return JSONResponse({"received": body is not None})

    stream_routes = [
        Route("/{organization_id}/events/{agent_id}/", listen, methods=["GET"]),
        Route("/{organization_id}/events/{agent_id}", listen, methods=["GET"]),
        Route("/{organization_id}/events/{worker_id}", worker_event, methods=["POST"]),
    ]
    task_routes = [
        Route("/agent-execution/{task_id}/update", update_task, methods=["PATCH"]),
        Route("/agent-execution/{agent_id}", create_task, methods=["POST"]),
        Route("/agents-metrics/{agent_id}/execution", execution_metrics, methods=["POST"]),
    ]
    # Also where clients of an agent-controller URL send them: xpander-sdk and our client put
    # /{organization_id} before every API path there.
    return [
        *stream_routes,
        *task_routes,
        *_prefixed("/agent-controller", stream_routes),
        *_prefixed("/agent-controller/{organization_id}", task_routes),
        *_prefixed("/{organization_id}", task_routes),
    ]


def _prefixed(prefix: str, routes: list[Route]) -> list[Route]:
    return [Route(prefix + r.path, r.endpoint, methods=sorted(r.methods or ())) for r in routes]


def task_status_route(hub: EventsHub) -> Route:
    """``GET /agent-execution/{task_id}/status`` from the hub's store, for servers without their own."""

    async def status(request: Request) -> Response:
        task = hub.store.get_task(request.path_params["task_id"])
        return JSONResponse(task) if task else _error(404, "task not found")

    return Route("/agent-execution/{task_id}/status", status, methods=["GET"])


async def _one(frame: str) -> AsyncIterator[str]:
    yield frame




def run_task_form_route(hub: EventsHub) -> Route:
    """``POST /tasks/run`` from the task pages' "Run task" form: create the task, show its page."""

    async def run_task(request: Request) -> Response:
        form = await request.form()
        agent_id, text = str(form.get("agent_id") or ""), str(form.get("text") or "")
        if not agent_id or not hub.agent_exists(agent_id):
            return _error(404, f"agent {agent_id!r} not found")
        task = await hub.create_task(agent_id, {"input": {"text": text}})
        return RedirectResponse(f"/tasks/{task['id']}/view", status_code=303)

    return Route("/tasks/run", run_task, methods=["POST"])
