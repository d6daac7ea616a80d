"""HTML pages of the dev server: the task list (``/``) and a task's detail (``/tasks/{id}/view``).

Server-rendered with Jinja2 (autoescaped) and one small stylesheet: no JavaScript, no build step.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from .api import ApiError, int_param, status_param, storage_of
from .storage import TASK_STATUSES

PAGE_SIZE = 25
_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=_HERE / "templates")


def _when(value: str | None) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM:SS`` (UTC), the way a person reads it."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2f} s"


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


templates.env.filters["when"] = _when
templates.env.filters["seconds"] = _seconds
templates.env.filters["pretty_json"] = _pretty_json


async def task_list(request: Request) -> Response:
    agent_filter = request.query_params.get("agent") or None
    try:
        status_filter = status_param(request)
        page_number = int_param(request, "page", 1, 1, 10**6)
    except ApiError as exc:
        return _error_page(request, exc.status_code, exc.detail)
    storage = storage_of(request)
    page = storage.list_tasks(agent_id=agent_filter, status=status_filter, limit=PAGE_SIZE,
                              offset=(page_number - 1) * PAGE_SIZE)
    agents = storage.list_agents()
    pages = max(1, math.ceil(page.total / PAGE_SIZE))

    def page_url(number: int) -> str:
        query = {k: v for k, v in (("agent", agent_filter), ("status", status_filter)) if v}
        if number > 1:
            query["page"] = str(number)
        return "/" + (f"?{urlencode(query)}" if query else "")

    return templates.TemplateResponse(request, "tasks.html", {
        "tasks": page.items,
        "total": page.total,
        "agent_names": {a["id"]: a.get("name") or a["id"] for a in agents},
        "agents": agents,
        "statuses": TASK_STATUSES,
        "agent_filter": agent_filter,
        "status_filter": status_filter,
        "page": page_number,
        "pages": pages,
        "first_index": page.offset + 1,
        "previous_url": page_url(page_number - 1) if page_number > 1 else None,
        "next_url": page_url(page_number + 1) if page_number < pages else None,
    })


async def task_detail(request: Request) -> Response:
    task_id = request.path_params["task_id"]
    storage = storage_of(request)
    task = storage.get_task(task_id)
    if task is None:
        return _error_page(request, 404, f"There is no task with id {task_id}.")
    agent = storage.get_agent(task["agent_id"]) or {}
    return templates.TemplateResponse(request, "task.html", {
        "task": task,
        "agent_name": agent.get("name") or task["agent_id"],
    })


def _error_page(request: Request, status: int, message: str) -> Response:
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message},
                                      status_code=status)


ROUTES = [
    Route("/", task_list, methods=["GET"]),
    Route("/tasks/{task_id}/view", task_detail, methods=["GET"]),
]
STATIC_DIR = _HERE / "static"
