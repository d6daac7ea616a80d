"""ASGI middleware of the dev server: a request body size limit and the optional API-key check."""

from __future__ import annotations

import base64
import hmac
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Paths anyone may reach even when an API key is set: health, the stylesheet, the scripted LLM
# (OpenAI clients send their own Authorization header, not ours).
OPEN_PATH_PREFIXES = ("/healthz", "/static/", "/v1/chat/", "/v1/models", "/chat/completions")


class BodyLimit:
    """Answer 413 when a request body exceeds ``max_bytes`` (by Content-Length, or while it streams)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _error(400, "the Content-Length header is not a number")(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the handler's body read: the app's HTTPException handler answers it.
                    raise HTTPException(413, self._too_large_detail())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except HTTPException as exc:
            if started or exc.status_code != 413:
                raise
            await _error(413, exc.detail)(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _error(413, self._too_large_detail())(scope, receive, send)

    def _too_large_detail(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes} bytes"


class ApiKeyCheck:
    """Require ``x-api-key`` (or HTTP Basic auth with the key as password, for browsers) on every
    route but the open ones; keys are compared in constant time."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(OPEN_PATH_PREFIXES) or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-api-key") is not None or _header(scope, b"authorization") is not None
        detail = ("the API key is wrong" if given else "an API key is required") + (
            ": send it in the x-api-key header (the server was started with --api-key)"
        )
        response = JSONResponse({"detail": detail}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="xpander-otel dev server"'})
        await response(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        key = _header(scope, b"x-api-key")
        if key is not None:
            return hmac.compare_digest(key.encode(), self._key)
        authorization = _header(scope, b"authorization") or ""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(password.encode(), self._key)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _error(status: int, detail: str) -> Any:
    return JSONResponse({"detail": detail}, status_code=status)
