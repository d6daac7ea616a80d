"""The xpander-compatible JSON API of the dev server, and our own ``/tasks`` JSON for pages and the CLI.

Routes and shapes are those xpander-sdk 2.x and ``xpander_otel.Backend`` use, so either client works
against the dev server unchanged. Bad input answers 4xx with ``{"detail": "..."}`` saying what to fix.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..models import TaskReport
from . import agents
from .storage import TASK_STATUSES, Storage

MAX_PAGE_SIZE = 500


class ApiError(Exception):
    """Answered as ``{"detail": message}`` with the status code (and ``errors`` for validation)."""

    def __init__(self, status_code: int, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.errors = errors

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"detail": self.detail}
        if self.errors is not None:
            body["errors"] = self.errors
        return JSONResponse(body, status_code=self.status_code)


def storage_of(request: Request) -> Storage:
    return request.app.state.storage


def server_url(request: Request) -> str:
    """This server's URL as the client reached it (for ``{server_url}`` in agent definitions)."""
    return str(request.base_url).rstrip("/")


async def read_json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        raise ApiError(400, "the request body is empty: send a JSON object")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(422, f"the request body must be a JSON object, not {type(data).__name__}")
    return data


def _validation_error(what: str, exc: ValidationError) -> ApiError:
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    listed = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors[:5])
    return ApiError(422, f"invalid {what}: {listed}", errors)


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter '{name}' must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"query parameter '{name}' must be between {low} and {high}, got {value}")
    return value


def status_param(request: Request) -> str | None:
    status = request.query_params.get("status") or None
    if status is not None and status not in TASK_STATUSES:
        raise ApiError(400, f"query parameter 'status' must be one of {', '.join(TASK_STATUSES)}, got {status!r}")
    return status


def _require_agent(request: Request, agent_id: str, version: int | None = None) -> dict[str, Any]:
    agent = storage_of(request).get_agent(agent_id, version)
    if agent is None:
        if version is not None and storage_of(request).get_agent(agent_id) is not None:
            raise ApiError(404, f"agent {agent_id!r} has no version {version}")
        raise ApiError(
            404,
            f"agent {agent_id!r} not found: create it with POST /agents or list it in the --agents file",
        )
    return agent


def task_wire(task: dict[str, Any], organization_id: str) -> dict[str, Any]:
    """A stored task as xpander answers it: ``input`` is ``{text, files, user}``, plus the report's fields.

    ``agent_version`` is a string there (xpander-sdk's ``Task`` refuses a number).
    """
    version = task["agent_version"]
    return {
        **task,
        "agent_version": None if version is None else str(version),
        "organization_id": organization_id,
        "input": {"text": task["input"] or "", "files": [], "user": None},
        "finished_at": task["updated_at"],
        "source": "external",
    }


def _organization_of(request: Request, agent_id: str) -> str:
    agent = storage_of(request).get_agent(agent_id)
    return (agent or {}).get("organization_id") or agents.DEFAULT_ORGANIZATION_ID


# --- agents ----------------------------------------------------------------------------------------


async def get_agent(request: Request) -> Response:
    raw_version = request.headers.get("x-agent-version")
    version = None
    if raw_version:
        try:
            version = int(raw_version)
        except ValueError:
            raise ApiError(400, f"header x-agent-version must be an integer, got {raw_version!r}") from None
    agent = _require_agent(request, request.path_params["agent_id"], version)
    return JSONResponse(agents.for_server(agent, server_url(request)))


async def list_agents(request: Request) -> Response:
    url = server_url(request)
    return JSONResponse([agents.summary(agents.for_server(a, url)) for a in storage_of(request).list_agents()])


async def create_agent(request: Request) -> Response:
    body = await read_json_object(request)
    try:
        definition = agents.AgentDefinition.model_validate(body)
    except ValidationError as exc:
        raise _validation_error("agent", exc) from None
    stored = storage_of(request).save_agent(definition.to_stored(), new_version=definition.version is None)
    return JSONResponse(agents.for_server(stored, server_url(request)), status_code=201)


# --- tasks -----------------------------------------------------------------------------------------


async def report_task(request: Request) -> Response:
    agent = _require_agent(request, request.path_params["agent_id"])
    body = await read_json_object(request)
    try:
        report = TaskReport.model_validate(body)
    except ValidationError as exc:
        raise _validation_error("task report", exc) from None
    if not report.id:
        report.id = str(uuid.uuid4())
    task = storage_of(request).save_report(agent["id"], agent.get("version"), report)
    return JSONResponse(task_wire(task, agent["organization_id"]))


async def task_status(request: Request) -> Response:
    task_id = request.path_params["task_id"]
    task = storage_of(request).get_task(task_id)
    if task is None:
        raise ApiError(404, f"task {task_id!r} not found")
    return JSONResponse(task_wire(task, _organization_of(request, task["agent_id"])))


async def agent_history(request: Request) -> Response:
    agent = _require_agent(request, request.path_params["agent_id"])
    page = storage_of(request).list_tasks(
        agent_id=agent["id"],
        status=status_param(request),
        limit=int_param(request, "limit", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        offset=int_param(request, "offset", 0, 0, 10**9),
    )
    return JSONResponse([task_wire(t, agent["organization_id"]) for t in page.items])


async def default_llm_extra_headers(_: Request) -> Response:
    return JSONResponse({})


async def list_tasks(request: Request) -> Response:
    page = storage_of(request).list_tasks(
        agent_id=request.query_params.get("agent_id") or None,
        status=status_param(request),
        limit=int_param(request, "limit", 50, 1, MAX_PAGE_SIZE),
        offset=int_param(request, "offset", 0, 0, 10**9),
    )
    organizations = {a["id"]: a.get("organization_id") for a in storage_of(request).list_agents()}
    items = [task_wire(t, organizations.get(t["agent_id"]) or agents.DEFAULT_ORGANIZATION_ID) for t in page.items]
    return JSONResponse({"items": items, "total": page.total, "limit": page.limit, "offset": page.offset})


# The xpander routes, also served under /{organization_id} and /agent-controller/{organization_id}.
XPANDER_ROUTES = [
    Route("/agents/list", list_agents, methods=["GET"]),
    Route("/agents/{agent_id}", get_agent, methods=["GET"]),
    Route("/agent-execution/executions/history/{agent_id}", agent_history, methods=["GET"]),
    Route("/agent-execution/{agent_id}/report_task", report_task, methods=["POST"]),
    Route("/agent-execution/{task_id}/status", task_status, methods=["GET"]),
    Route("/metadata/default_llm_extra_headers", default_llm_extra_headers, methods=["GET"]),
]

# Our own routes: creating agents, and tasks as JSON for the pages and `xpander-otel tasks`.
OWN_ROUTES = [
    Route("/agents", create_agent, methods=["POST"]),
    Route("/tasks", list_tasks, methods=["GET"]),
    Route("/tasks/{task_id}", task_status, methods=["GET"]),
]
