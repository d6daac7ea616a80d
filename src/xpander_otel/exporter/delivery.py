"""Delivery: reports go to the spool first, then a background worker POSTs them to xpander.

``submit`` only writes to the local spool (no network on the caller's thread). The worker owns its own
``httpx.Client`` and sends each report exactly like ``Backend.report_external_task`` does
(``client.report_task_call``). Retries: connection errors, 408, 429 and 5xx, with exponential backoff
and jitter, honouring ``Retry-After``; other 4xx are dropped with one clear log line. Anything still in
the spool at shutdown is sent by the next process that starts with the same spool.
"""

from __future__ import annotations

import contextlib
import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from opentelemetry.instrumentation.utils import suppress_http_instrumentation, suppress_instrumentation

from .. import client, config, llm_keys
from ..config import Configuration
from ..models import TaskReport
from .spool import Spool, SpooledReport

log = llm_keys.get_logger(__name__)

_RETRY_STATUSES = frozenset({408, 429})
# A server asking for more than this is probably misconfigured; we come back sooner.
_MAX_RETRY_AFTER_S = 900.0
_WHAT_TO_FIX = {
    401: f"the API key was refused: set {config.ENV_API_KEY} (or Configuration(api_key=...)) to a valid key",
    403: f"the API key may not report for this agent: check {config.ENV_API_KEY} and "
         f"{config.ENV_ORGANIZATION_ID}",
    404: f"no such agent: check {config.ENV_AGENT_ID}, the xpander.agent.id attribute or "
         f"{config.ENV_OTEL_AGENT_MAP}",
}


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 0.5
    max_s: float = 60.0
    give_up_after_s: float = 7 * 24 * 3600.0

    def backoff(self, attempts: int) -> float:
        """Exponential, capped, with jitter so that many processes do not retry in step."""
        ceiling = min(self.max_s, self.base_s * (2 ** min(attempts, 30)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class Delivery:
    """The background sender of one spool. ``submit`` never blocks on the network and never raises."""

    def __init__(
        self,
        spool: Spool,
        configuration: Configuration,
        *,
        policy: RetryPolicy | None = None,
        request_timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        on_idle: Callable[[], None] | None = None,
        senders: int = 4,
    ) -> None:
        self.spool = spool
        self.configuration = configuration
        llm_keys.remember(configuration.api_key)  # so a server echoing the key cannot put it in our logs
        self.policy = policy or RetryPolicy()
        self._lease_s = request_timeout_s * 3
        self._http = httpx.Client(timeout=httpx.Timeout(request_timeout_s, connect=min(5.0, request_timeout_s)),
                                  transport=transport)
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._stopping = False
        self._in_flight = 0
        self._idle_call_lock = threading.Lock()
        self._refusals_logged: set[tuple[int, str]] = set()
        # Called by the worker about once a second (the exporter reports runs whose grace period ended).
        self._on_idle = on_idle
        self._last_idle_call = 0.0
        self._idle_requested = False
        self.delivered = 0
        self.dropped = 0
        spool.release_dead_owners()
        spool.make_all_due()
        # A few senders: one slow round trip must not hold back every other report.
        self._threads = [threading.Thread(target=self._run, name=f"xpander-otel-delivery-{n}", daemon=True)
                         for n in range(max(1, senders))]
        for thread in self._threads:
            thread.start()

    def submit(self, items: list[tuple[str, TaskReport]]) -> bool:
        """Spool ``(agent_id, report)`` pairs and wake the worker; False (logged) when the spool failed."""
        if not items:
            return True
        rows = [(f"{agent_id}/{report.id}", agent_id, report.model_dump_json()) for agent_id, report in items]
        try:
            pushed_out = self.spool.put(rows)
        except Exception as exc:  # a full disk or a locked file must not reach the application
            log.error("xpander-otel could not spool %d task report(s): %s", len(rows), exc)
            return False
        if pushed_out:
            log.warning("xpander-otel spool is full (%d reports): dropped the %d oldest", self.spool.max_rows,
                        pushed_out)
        self._wake.set()
        return True

    def force_flush(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until the spool is empty; False if reports are still waiting."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        self._wake.set()
        with self._idle:
            while True:
                if not self._in_flight and self._safe_count() == 0:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not any(t.is_alive() for t in self._threads):
                    return False
                self._idle.wait(min(remaining, 0.05))

    def shutdown(self, timeout_s: float) -> bool:
        """Flush within ``timeout_s``, then stop the worker; unsent reports stay spooled for the next start."""
        flushed = self.force_flush(timeout_s)
        left = 0 if flushed else self._safe_count()
        self._stopping = True
        self._wake.set()
        join_until = time.monotonic() + 1.0
        for thread in self._threads:
            thread.join(timeout=max(0.0, join_until - time.monotonic()))
        if not any(t.is_alive() for t in self._threads):
            self._http.close()
            self.spool.close()
        if not flushed:
            log.warning("xpander-otel: %d task report(s) not delivered yet; they stay in %s and are sent "
                        "on the next start", left, self.spool.path)
        return flushed

    # --- the worker ------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping:
            if self._idle_requested:
                self._call_on_idle()
            try:
                report = self.spool.claim_next(time.time(), self._lease_s)
            except Exception as exc:
                log.error("xpander-otel spool read failed: %s", exc)
                report = None
            if report is not None:
                with self._idle:
                    self._in_flight += 1
                try:
                    self._deliver(report)
                finally:
                    with self._idle:
                        self._in_flight -= 1
                        self._idle.notify_all()
                continue
            with self._idle:
                self._idle.notify_all()
            self._call_on_idle()
            self._wake.wait(self._sleep_s())
            self._wake.clear()

    def request_idle_call(self) -> None:
        """Have the worker call ``on_idle`` now rather than within the next second."""
        self._idle_requested = True
        self._wake.set()

    def _call_on_idle(self) -> None:
        now = time.monotonic()
        if self._on_idle is None or (now - self._last_idle_call < 1.0 and not self._idle_requested):
            return
        if not self._idle_call_lock.acquire(blocking=False):
            return  # another sender is on it
        try:
            self._idle_requested = False
            self._last_idle_call = now
            self._on_idle()
        except Exception:
            log.exception("xpander-otel periodic assembly failed")
        finally:
            self._idle_call_lock.release()

    def _sleep_s(self) -> float:
        due = None
        with contextlib.suppress(Exception):  # a spool read error: the next pass logs it
            due = self.spool.next_due()
        if due is None:
            return 1.0
        return min(1.0, max(0.01, due - time.time()))

    def _deliver(self, report: SpooledReport) -> None:
        try:
            status, retry_after, detail = self._post(report)
        except Exception as exc:  # never let the worker die: keep the row and try again later
            status, retry_after, detail = None, None, f"{type(exc).__name__}: {exc}"
        if status is not None and 200 <= status < 300:
            self.spool.delete(report)
            self.delivered += 1
        elif status is None or status in _RETRY_STATUSES or status >= 500:
            self._retry(report, status, retry_after, detail)
        else:
            self.spool.delete(report)
            self.dropped += 1
            self._log_refusal(report, status, detail)

    def _post(self, report: SpooledReport) -> tuple[int | None, float | None, str]:
        call = client.report_task_call(report.agent_id, TaskReport.model_validate_json(report.body))
        url = client._url(self.configuration, call)
        headers = client._headers(self.configuration, call)
        # Our own HTTP call must not become a span of the user's trace (and loop back into the exporter).
        with suppress_instrumentation(), suppress_http_instrumentation():
            try:
                response = self._http.request(call.method, url, json=call.json, headers=headers)
            except httpx.HTTPError as exc:
                return None, None, f"{type(exc).__name__}: {exc}"
        return response.status_code, _retry_after_s(response), response.text[:300]

    def _retry(self, report: SpooledReport, status: int | None, retry_after: float | None, detail: str) -> None:
        now = time.time()
        if now - report.created > self.policy.give_up_after_s:
            self.spool.delete(report)
            self.dropped += 1
            log.error("xpander-otel gave up on task report %s after %d attempts (last: %s)", report.key,
                      report.attempts + 1, llm_keys.scrub(detail))
            return
        delay = self.policy.backoff(report.attempts)
        if retry_after is not None:
            delay = min(max(retry_after, 0.0), _MAX_RETRY_AFTER_S)
        log.debug("xpander-otel will retry %s in %.2fs (%s)", report.key, delay, status or detail)
        self.spool.retry_at(report, now + delay)

    def _log_refusal(self, report: SpooledReport, status: int, detail: str) -> None:
        key = (status, report.agent_id)
        if key in self._refusals_logged:
            log.debug("xpander-otel dropped task report %s: HTTP %d", report.key, status)
            return
        self._refusals_logged.add(key)
        advice = _WHAT_TO_FIX.get(status, "the report was refused")
        log.error("xpander-otel dropped the task report of agent %s (HTTP %d): %s. Server said: %s",
                  report.agent_id, status, advice, llm_keys.scrub(detail) or "-")

    def _safe_count(self) -> int:
        try:
            return self.spool.count()
        except Exception:
            return 0


def _retry_after_s(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
