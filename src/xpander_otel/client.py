"""``Backend``: fetch an agent's arguments and report external tasks, over httpx.

Sync and async twins share everything but the I/O: each public call builds a ``_Call`` (method, path,
body, headers) and parses the answer the same way. The sync twins use a blocking ``httpx.Client``, so
they also work inside a running event loop.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import config, llm_keys
from .config import Configuration
from .errors import ModuleException
from .frameworks import dispatch_get_args_sync
from .models import AgentConfig, Task, TaskReport, Tokens

_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10)
log = llm_keys.get_logger(__name__)


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # A 404 here means "none": the organization has no default LLM headers, for example.
    empty_on_404: bool = False


class Backend:
    """The xpander Backend: agent arguments in, task reports out.

    >>> backend = Backend()                                 # doctest: +SKIP
    >>> args = backend.get_args(agent_id="agent-123")       # doctest: +SKIP
    >>> backend.report_external_task(agent_id="agent-123", result="Success")  # doctest: +SKIP
    """

    def __init__(self, configuration: Configuration | None = None) -> None:
        self.configuration = configuration or Configuration()
        llm_keys.remember(self.configuration.api_key)
        self._sync_client: httpx.Client | None = None
        # An AsyncClient's pool belongs to one event loop: keep one per loop.
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"Backend(base_url={self.configuration.base_url!r})"

    # --- get_args ----------------------------------------------------------------------------------

    def get_args(
        self,
        agent_id: str | None = None,
        agent: AgentConfig | None = None,
        agent_version: int | None = None,
        task: Task | None = None,
        override: Mapping[str, Any] | None = None,
        tools: list[Callable[..., Any]] | None = None,
        *,
        framework: str | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments for the agent's framework: ``Agent(**backend.get_args(agent_id=...))``."""
        if agent is None:
            agent = AgentConfig.model_validate(self._send(self._agent_call(agent_id, agent_version)))
        headers = self._send(_default_headers_call()) or {}
        return dispatch_get_args_sync(
            agent, task, override, tools, framework=framework, extra_headers=headers
        )

    async def aget_args(
        self,
        agent_id: str | None = None,
        agent: AgentConfig | None = None,
        agent_version: int | None = None,
        task: Task | None = None,
        override: Mapping[str, Any] | None = None,
        tools: list[Callable[..., Any]] | None = None,
        *,
        framework: str | None = None,
    ) -> dict[str, Any]:
        """Async twin of ``get_args``."""
        if agent is None:
            agent = AgentConfig.model_validate(await self._asend(self._agent_call(agent_id, agent_version)))
        headers = await self._asend(_default_headers_call()) or {}
        return dispatch_get_args_sync(
            agent, task, override, tools, framework=framework, extra_headers=headers
        )

    def get_agent(self, agent_id: str | None = None, agent_version: int | None = None) -> AgentConfig:
        """The agent's configuration as xpander stores it."""
        return AgentConfig.model_validate(self._send(self._agent_call(agent_id, agent_version)))

    async def aget_agent(self, agent_id: str | None = None, agent_version: int | None = None) -> AgentConfig:
        """Async twin of ``get_agent``."""
        return AgentConfig.model_validate(await self._asend(self._agent_call(agent_id, agent_version)))

    def _agent_call(self, agent_id: str | None, agent_version: int | None) -> _Call:
        agent_id = self._require_agent_id(agent_id)
        headers = {"x-agent-version": str(agent_version)} if agent_version else {}
        return _Call("GET", f"/agents/{agent_id}", headers=headers)

    # --- report_external_task ----------------------------------------------------------------------

    def report_external_task(
        self,
        agent_id: str | None = None,
        agent: AgentConfig | None = None,
        id: str | None = None,
        input: str | None = None,
        llm_response: Any = None,
        tokens: Tokens | None = None,
        is_success: bool | None = True,
        result: str | None = None,
        duration: float | None = 0,
        used_tools: list[str] | None = None,
        configuration: Configuration | None = None,
    ) -> Task:
        """Record a run that happened outside xpander, so it shows as a task. Re-using an ``id`` updates it."""
        call = self._report_call(agent_id, agent, id, input, llm_response, tokens, is_success, result,
                                 duration, used_tools)
        return Task.model_validate(self._send(call, configuration))

    async def areport_external_task(
        self,
        agent_id: str | None = None,
        agent: AgentConfig | None = None,
        id: str | None = None,
        input: str | None = None,
        llm_response: Any = None,
        tokens: Tokens | None = None,
        is_success: bool | None = True,
        result: str | None = None,
        duration: float | None = 0,
        used_tools: list[str] | None = None,
        configuration: Configuration | None = None,
    ) -> Task:
        """Async twin of ``report_external_task``."""
        call = self._report_call(agent_id, agent, id, input, llm_response, tokens, is_success, result,
                                 duration, used_tools)
        return Task.model_validate(await self._asend(call, configuration))

    def _report_call(self, agent_id, agent, id, input, llm_response, tokens, is_success, result,
                     duration, used_tools) -> _Call:
        agent_id = self._require_agent_id(agent.id if agent else agent_id)
        report = TaskReport(
            id=id or str(uuid.uuid4()),
            input=input,
            llm_response=llm_response,
            tokens=tokens,
            is_success=is_success,
            result=result,
            duration=duration,
            used_tools=list(used_tools or []),
        )
        return report_task_call(agent_id, report)

    def _require_agent_id(self, agent_id: str | None) -> str:
        agent_id = agent_id or self.configuration.agent_id or config.default_agent_id()
        if not agent_id:
            raise ValueError(
                "No agent id: pass agent_id=... (or agent=...) or set the "
                f"{config.ENV_AGENT_ID} environment variable."
            )
        return agent_id

    # --- I/O: the only part that differs between the twins -----------------------------------------

    def _send(self, call: _Call, configuration: Configuration | None = None) -> Any:
        cfg = configuration or self.configuration
        try:
            if self._sync_client is None:
                self._sync_client = httpx.Client(timeout=_TIMEOUT, limits=_LIMITS)
            response = self._sync_client.request(call.method, _url(cfg, call), json=call.json,
                                                 headers=_headers(cfg, call))
        except httpx.HTTPError as exc:
            raise _transport_error(call, exc) from None
        return _parse(call, response)

    async def _asend(self, call: _Call, configuration: Configuration | None = None) -> Any:
        cfg = configuration or self.configuration
        try:
            client = self._async_client()
            response = await client.request(call.method, _url(cfg, call), json=call.json,
                                            headers=_headers(cfg, call))
        except httpx.HTTPError as exc:
            raise _transport_error(call, exc) from None
        return _parse(call, response)

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = httpx.AsyncClient(timeout=_TIMEOUT, limits=_LIMITS)
            self._async_clients[loop] = client
        return client

    def close(self) -> None:
        """Close the sync connection pool (async pools close with their event loop)."""
        if self._sync_client is not None:
            self._sync_client.close()
            self._sync_client = None


def report_task_call(agent_id: str, report: TaskReport) -> _Call:
    """The request that reports one task; shared with the exporter's delivery worker."""
    return _Call("POST", f"/agent-execution/{agent_id}/report_task", json=report.to_wire())


def _default_headers_call() -> _Call:
    return _Call("GET", "/metadata/default_llm_extra_headers", empty_on_404=True)


def _url(cfg: Configuration, call: _Call) -> str:
    return f"{cfg.get_full_url()}/{call.path.lstrip('/')}"


def _headers(cfg: Configuration, call: _Call) -> dict[str, str]:
    return {**call.headers, **cfg.headers()}


def _parse(call: _Call, response: httpx.Response) -> Any:
    if response.status_code == 404 and call.empty_on_404:
        return None
    if response.is_error:
        raise ModuleException(response.status_code, llm_keys.scrub(response.text or response.reason_phrase))
    if "application/json" not in response.headers.get("content-type", ""):
        return response.text
    try:
        return response.json()
    except ValueError:
        raise ModuleException(502, f"{call.method} {call.path}: the answer is not valid JSON") from None


def _transport_error(call: _Call, exc: httpx.HTTPError) -> ModuleException:
    return ModuleException(500, llm_keys.scrub(f"{call.method} {call.path} failed: {type(exc).__name__}: {exc}"))
