"""The dev server as one ASGI app: xpander API, task pages, scripted LLM and a health route.

>>> app = create_app(ServerSettings(db_path="tasks.sqlite3"))   # doctest: +SKIP
>>> uvicorn.run(app, host="127.0.0.1", port=8765)                # doctest: +SKIP

Seam for the OTLP receiver (``POST /v1/traces``, built with the bridge): pass its route in
``extra_routes``; it turns spans into ``TaskReport`` objects and stores each with
``app.state.record_report(agent_id, report)``, the same function ``report_task`` uses.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .. import llm_keys
from ..bridge.local import create_local_otlp_routes
from ..models import TaskReport
from . import api, pages, scripted_llm
from .agents import DEFAULT_ORGANIZATION_ID, load_agents_file
from .events import EventsHub, events_routes, run_task_form_route
from .middleware import ApiKeyCheck, BodyLimit
from .storage import Storage, WireTasks

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
log = llm_keys.get_logger(__name__)


@dataclass(frozen=True)
class ServerSettings:
    """What ``xpander-otel serve`` is given: database, agents file (None: the example agents), API key."""

    db_path: str | Path
    agents_file: str | Path | None = None
    api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __repr__(self) -> str:  # the API key stays out of logs and tracebacks
        return f"ServerSettings(db_path={str(self.db_path)!r}, agents_file={self.agents_file!r})"


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, api.ApiError)
    return exc.response()


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(_: Request, exc: Exception) -> Response:
    log.exception("dev server: unexpected error")
    return JSONResponse({"detail": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)


def _closing(storage: Storage, otlp_pipeline: Any) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        otlp_pipeline.close()  # assembles what its grace window still holds, into the store
        storage.close()

    return lifespan


def create_app(settings: ServerSettings, *, extra_routes: Sequence[BaseRoute] = ()) -> Any:
    """The dev server app. Opens (or creates) the database and loads the agents file into it.

    Raises ``AgentsFileError`` when the agents file is unreadable or invalid.
    """
    agents = load_agents_file(settings.agents_file)
    storage = Storage(settings.db_path)
    for agent in agents:
        # A file's agent is its own version (1 unless it says): restarts replace it, never add versions.
        storage.save_agent({**agent.to_stored(), "version": agent.version or 1}, new_version=False)

    llm_app = scripted_llm.create_app()
    # POST /v1/traces: the bridge's receiver, storing assembled tasks here (record_report is bound below).
    otlp_routes, otlp_pipeline = create_local_otlp_routes(lambda agent_id, report: record_report(agent_id, report))
    # The worker protocol (@on_task): task creation, the SSE events stream, task updates.
    hub = EventsHub(
        WireTasks(storage),
        organization_of=lambda agent_id: (storage.get_agent(agent_id) or {}).get("organization_id")
        or DEFAULT_ORGANIZATION_ID,
        agent_exists=lambda agent_id: storage.get_agent(agent_id) is not None,
    )
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        *extra_routes,
        *otlp_routes,
        *events_routes(hub),
        run_task_form_route(hub),
        *llm_app.routes,  # /v1/chat/completions, /v1/models: OpenAI clients use base_url=<server>/v1
        *api.XPANDER_ROUTES,
        *api.OWN_ROUTES,
        *pages.ROUTES,
        Mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static"),
        # xpander-sdk and our Backend put the organization first on agent-controller URLs.
        Mount("/agent-controller/{organization_id}", routes=api.XPANDER_ROUTES),
        Mount("/{organization_id}", routes=api.XPANDER_ROUTES),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={api.ApiError: _api_error, HTTPException: _http_error, Exception: _server_error},
        lifespan=_closing(storage, otlp_pipeline),
    )
    app.state.storage = storage
    app.state.events = hub
    app.state.llm = llm_app.state.llm
    app.state.otlp_pipeline = otlp_pipeline

    def record_report(agent_id: str, report: TaskReport) -> dict[str, Any]:
        agent = storage.get_agent(agent_id)
        if agent is None:
            raise api.ApiError(404, f"agent {agent_id!r} not found")
        if not report.id:
            report = report.model_copy(update={"id": str(uuid.uuid4())})
        return storage.save_report(agent_id, agent.get("version"), report)

    app.state.record_report = record_report

    wrapped: Any = app
    if settings.api_key:
        wrapped = ApiKeyCheck(wrapped, settings.api_key)
    wrapped = BodyLimit(wrapped, settings.max_body_bytes)
    wrapped.state = app.state  # tests and the demo reach storage and the LLM record through it
    return wrapped
