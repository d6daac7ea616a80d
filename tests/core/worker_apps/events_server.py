"""The dev server's events routes in a small Starlette app, run as its own process by the worker tests.

``python events_server.py PORT``. Besides the protocol it records, for the tests to read back:
``GET /_test/log`` -> every worker event and task update it received, in order.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from xpander_otel.devserver.events import EventsHub, InMemoryTaskStore, events_routes, task_status_route


class RecordingHub(EventsHub):
    def __init__(self) -> None:
        super().__init__(InMemoryTaskStore(), keepalive_seconds=1.0)
        self.log: list[dict[str, Any]] = []

    async def worker_event(self, worker_id: str, body: dict[str, Any]) -> bool:
        self.log.append({"kind": "worker_event", "worker_id": worker_id, "body": body, "at": time.time()})
        return await super().worker_event(worker_id, body)

    async def update_task(self, task_id: str, body: dict[str, Any]) -> dict[str, Any] | None:
        self.log.append({"kind": "update", "task_id": task_id, "body": body, "at": time.time()})
        return await super().update_task(task_id, body)


def create_app() -> Starlette:
    hub = RecordingHub()

    async def log(_: Request) -> JSONResponse:
        return JSONResponse({"log": hub.log, "connections": [c.asset for c in hub.connections.values()]})

    async def headers(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.headers))

    return Starlette(routes=[*events_routes(hub), task_status_route(hub),
                             Route("/_test/log", log), Route("/_test/headers", headers)])


if __name__ == "__main__":
    uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                timeout_graceful_shutdown=1)
