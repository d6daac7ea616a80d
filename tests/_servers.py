"""Servers the tests start on loopback ports: a uvicorn thread runner and a recording HTTP server."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a daemon thread; ``stop()`` ends it."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class RecordingServer:
    """Records every request; answers from a per-(method, path) queue of replies, else a default.

    The default answer to ``report_task`` echoes the reported task the way xpander does.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: dict[tuple[str, str], list[Reply]] = {}
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])

    def reply(self, method: str, path: str, *replies: Reply) -> None:
        with self.lock:
            self.replies.setdefault((method, path), []).extend(replies)

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.requests.append(Recorded(request.method, request.url.path, request.url.query,
                                          {k.lower(): v for k, v in request.headers.items()}, body))
            queue = self.replies.get((request.method, request.url.path))
            reply = queue.pop(0) if queue and len(queue) > 1 else (queue[0] if queue else None)
        if reply is None:
            reply = self._default(request, body)
        if isinstance(reply.body, (dict, list)):
            return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
        return Response(reply.body or b"", status_code=reply.status, headers=reply.headers)

    @staticmethod
    def _default(request: Request, body: bytes) -> Reply:
        if request.url.path.endswith("/report_task"):
            sent = json.loads(body)
            agent_id = request.url.path.split("/")[-2]
            return Reply(200, {**sent, "agent_id": agent_id, "status": "completed",
                               "input": {"text": sent.get("input") or "", "files": [], "user": None}})
        return Reply(404, {"detail": "not found"})
