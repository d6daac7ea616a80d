"""The worker: listen for an agent's tasks over SSE, run them with bounded concurrency, PATCH results back.

>>> exit_code = asyncio.run(Worker(handler).run())     # doctest: +SKIP

One SSE stream per agent; every (re)connect brings a fresh ``worker-registration``, which restarts the
heartbeat under the new worker id. A closed or failed stream is reconnected with capped exponential
backoff. SIGINT/SIGTERM stop listening, give running tasks a grace period, then mark what is still
running as ``error`` so no task is left ``executing``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
import threading
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse

from .. import config, llm_keys
from ..config import Configuration
from ..models import Task
from . import protocol
from .execution import Handler, execute, usage_collector

log = llm_keys.get_logger(__name__)

DEFAULT_MAX_CONCURRENCY = 6
DEFAULT_STOP_GRACE_SECONDS = 30.0
EXIT_OK = 0
EXIT_CONFLICT = 3
STOPPED_MESSAGE = "the worker stopped before the task finished"
# The stream may be quiet for long; a dead connection is noticed by this read timeout and reconnected.
_STREAM_TIMEOUT = httpx.Timeout(10.0, read=90.0)
_REQUEST_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
_UPDATE_ATTEMPTS = 6


class Worker:
    """Receives one agent's tasks and runs ``handler`` on each (sync or async)."""

    def __init__(
        self,
        handler: Handler,
        configuration: Configuration | None = None,
        *,
        agent_id: str | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS,
        environment: str | None = None,
        backoff_max_seconds: float = 10.0,
    ) -> None:
        self.handler = handler
        self.configuration = configuration or Configuration()
        llm_keys.remember(self.configuration.api_key)
        self.agent_id = agent_id or self.configuration.agent_id or config.default_agent_id()
        if not self.agent_id:
            raise ValueError(f"the worker needs an agent id: set {config.ENV_AGENT_ID} or pass agent_id=...")
        self.environment = environment or ("xpander" if config.is_xpander_cloud() else "local")
        self.max_concurrency = max(1, max_concurrency)
        self.stop_grace_seconds = stop_grace_seconds
        self.backoff_max_seconds = backoff_max_seconds
        protocol.events_base(self.configuration)  # fail now, with the reason, when the organization is missing
        self.worker_id: str | None = None
        self.exit_code = EXIT_OK
        self._slots = asyncio.Semaphore(self.max_concurrency)
        self._busy = False
        self._running: dict[asyncio.Task[None], Task] = {}
        self._stopping: asyncio.Event | None = None
        self._forced: asyncio.Event | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"Worker(agent_id={self.agent_id!r}, base_url={self.configuration.base_url!r})"

    # --- lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> int:
        """Listen until stopped (signal, ``stop()``) or refused; return the process exit code."""
        self._stopping = asyncio.Event()
        self._forced = asyncio.Event()
        usage_collector()
        self._install_signal_handlers()
        log.info("xpander worker for agent %s listening at %s", self.agent_id,
                 protocol.events_base(self.configuration))
        async with httpx.AsyncClient(timeout=_REQUEST_TIMEOUT) as client:
            self._client = client
            listener = asyncio.create_task(self._listen())
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({listener, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for pending in (listener, stopping, self._heartbeat):
                if pending is not None:
                    pending.cancel()
            await asyncio.gather(listener, stopping, return_exceptions=True)
            await self._finish_running_tasks()
            if self._heartbeat is not None:
                await asyncio.gather(self._heartbeat, return_exceptions=True)
        log.info("xpander worker stopped")
        return self.exit_code

    def stop(self) -> None:
        """Stop listening; running tasks get ``stop_grace_seconds`` to finish. A second call stops at once."""
        if self._stopping is None or self._forced is None:
            return
        if self._stopping.is_set():
            log.info("xpander worker: stopping now, without waiting for running tasks")
            self._forced.set()
            return
        log.info("xpander worker stopping: %d task(s) running (again to stop at once)", len(self._running))
        self._stopping.set()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)

    async def _finish_running_tasks(self) -> None:
        if not self._running:
            return
        assert self._forced is not None
        forced = asyncio.create_task(self._forced.wait())
        deadline = asyncio.get_running_loop().time() + self.stop_grace_seconds
        while self._running and not forced.done():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await asyncio.wait({*self._running, forced}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        forced.cancel()
        still_running = set(self._running)
        for job in still_running:
            task = self._running.get(job)
            job.cancel()
            if task is None:
                continue
            task.status = protocol.ERROR
            task.result = STOPPED_MESSAGE
            log.warning("task %s: %s; marking it error", task.id, STOPPED_MESSAGE)
            await self._update(task)
        await asyncio.gather(*still_running, return_exceptions=True)

    # --- the event stream --------------------------------------------------------------------------

    async def _listen(self) -> None:
        url = protocol.listen_url(self.configuration, self.agent_id, self.environment)
        failures = 0
        while True:
            try:
                async with aconnect_sse(self._http, "GET", url, headers=self.configuration.headers(),
                                        timeout=_STREAM_TIMEOUT) as source:
                    _raise_for_status(source.response)
                    async for event in source.aiter_sse():
                        if event.event == protocol.WORKER_REGISTRATION:
                            failures = 0
                        if not await self._on_event(event):
                            return
                log.info("event stream closed by the server; reconnecting")
            except (httpx.HTTPError, SSEError) as exc:
                log.warning("event stream %s: %s", type(exc).__name__, llm_keys.scrub(str(exc)) or "failed")
            failures += 1
            await asyncio.sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        delay = min(self.backoff_max_seconds, 0.5 * 2 ** (failures - 1))
        return delay * random.uniform(0.8, 1.2)

    async def _on_event(self, event: ServerSentEvent) -> bool:
        """Handle one event; False means stop listening."""
        try:
            data = json.loads(event.data) if event.data else {}
        except ValueError:
            log.warning("ignored %s event: its data is not JSON", event.event or "unnamed")
            return True
        if event.event == protocol.ENVIRONMENT_CONFLICT:
            error = data.get("error") if isinstance(data, dict) else data
            log.error(
                "xpander refused this worker for agent %s (environment %r): %s. Another worker of this "
                "agent runs in a different environment; stop it, or run this one there.",
                self.agent_id, self.environment, error)
            self.exit_code = EXIT_CONFLICT
            return False
        if event.event == protocol.WORKER_REGISTRATION:
            self._registered(data)
        elif event.event == protocol.AGENT_EXECUTION:
            await self._accept(data)
        return True

    def _registered(self, asset: Any) -> None:
        if not isinstance(asset, dict) or not asset.get("id"):
            log.warning("ignored a worker-registration event without a worker id")
            return
        self.worker_id = str(asset["id"])
        log.info("worker registered: id=%s", self.worker_id)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(self.worker_id))

    async def _accept(self, data: Any) -> None:
        try:
            task = Task.model_validate({**data, "configuration": self.configuration})
        except (TypeError, ValueError) as exc:
            log.warning("ignored an agent-execution event that is not a task: %s", exc)
            return
        await self._slots.acquire()  # at capacity, stop reading the stream until a task finishes
        if self._slots.locked() and not self._busy:
            self._busy = True
            await self._post_event(protocol.capacity_body(is_busy=True))
        job = asyncio.create_task(self._run_task(task))
        self._running[job] = task

    # --- tasks -------------------------------------------------------------------------------------

    async def _run_task(self, task: Task) -> None:
        try:
            task.status = protocol.EXECUTING
            task.result = None
            if not await self._update(task):
                log.error("task %s: could not mark it executing; not running it", task.id)
                return
            log.info("task %s: running", task.id)
            finished = await execute(self.handler, task)
            await self._update(finished)
            log.info("task %s: %s", task.id, finished.status)
        finally:
            self._running.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            self._slots.release()
            if self._busy and not self._slots.locked():
                self._busy = False
                await self._post_event(protocol.capacity_body(is_busy=False))

    async def _update(self, task: Task) -> bool:
        """PATCH the task; retried on connection errors and 5xx so a server restart loses no result."""
        url = protocol.task_update_url(self.configuration, task.id)
        for attempt in range(1, _UPDATE_ATTEMPTS + 1):
            try:
                response = await self._http.patch(url, json=task.to_wire(), headers=self.configuration.headers())
                if response.status_code < 500:
                    if response.is_error:
                        log.error("task %s: update answered %d: %s", task.id, response.status_code,
                                  llm_keys.scrub(response.text[:300]))
                    return not response.is_error
            except httpx.HTTPError as exc:
                log.warning("task %s: update failed (%s), attempt %d", task.id, type(exc).__name__, attempt)
            await asyncio.sleep(min(5.0, 0.5 * 2 ** (attempt - 1)))
        log.error("task %s: gave up updating it after %d attempts", task.id, _UPDATE_ATTEMPTS)
        return False

    # --- worker events -----------------------------------------------------------------------------

    async def _heartbeat_loop(self, worker_id: str) -> None:
        while True:
            await self._post_event(protocol.heartbeat_body(), worker_id)
            await asyncio.sleep(protocol.HEARTBEAT_INTERVAL_SECONDS)

    async def _post_event(self, body: dict[str, Any], worker_id: str | None = None) -> None:
        worker_id = worker_id or self.worker_id
        if not worker_id:
            return
        url = protocol.worker_event_url(self.configuration, worker_id, self.agent_id)
        try:
            await self._http.post(url, json=body, headers=self.configuration.headers())
        except httpx.HTTPError as exc:
            log.debug("worker event %s not sent: %s", body.get("event"), type(exc).__name__)

    @property
    def _http(self) -> httpx.AsyncClient:
        assert self._client is not None, "the worker is not running"
        return self._client


def show_worker_logs() -> None:
    """INFO logs on stderr for a worker process whose program configured no logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code in (401, 403):
        raise httpx.HTTPStatusError(
            f"{response.status_code}: the API key was refused; check XPANDER_API_KEY",
            request=response.request, response=response)
    response.raise_for_status()
