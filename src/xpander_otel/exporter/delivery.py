"""Delivery: reports go to the spool first, then background senders POST them to xpander.

``submit`` only writes to the local spool (no network on the caller's thread), in one transaction per
batch, and hands the rows it leased to the senders through an in-memory queue: one sender wakes per
report. The spooled body is the report's JSON, POSTed as it is to the URL and with the headers that
``Backend.report_external_task`` uses (``client.report_task_call``). A scheduler thread reads the spool
for the rest: retries when they fall due, rows left by a previous process or another one sharing the
file, and the exporter's periodic ``on_idle`` call. Retries: connection errors, 408, 429 and 5xx, with
exponential backoff and jitter, honouring ``Retry-After``; other 4xx are dropped with one clear log line.
Anything still in the spool at shutdown is sent by the next process that starts with the same spool.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx
from opentelemetry.instrumentation.utils import suppress_http_instrumentation, suppress_instrumentation

from .. import client, config, llm_keys
from ..config import Configuration
from ..models import TaskReport
from .http_post import DirectTarget, KeptConnections, direct_target
from .spool import Spool, SpooledReport

log = llm_keys.get_logger(__name__)

_RETRY_STATUSES = frozenset({408, 429})
# A server asking for more than this is probably misconfigured; we come back sooner.
_MAX_RETRY_AFTER_S = 900.0
# The scheduler reads the spool at least this often (rows of other processes, leases that expired).
_POLL_S = 1.0
# A request slower than this that leaves reports waiting starts another sender (so does every busy sender
# being inside its request this long: a hanging one). Counted from the request alone, and ten times the
# interpreter's 5 ms switch interval: beside a busy application thread a request also waits for the GIL
# (loopback, bench_delivery.py's busy mode: p50 22 ms, at most 39-54 ms), and a second sender would only
# wait for the same GIL.
_SLOW_REQUEST_S = 0.05
# After a run ends, its early export waits this long, so that runs ending close together share one flush,
# assembly and spool transaction: a thread woken cold once per run cost more than the work it then did.
_RUN_END_BATCH_S = 0.01
# A run end that comes this soon after the previous one (a loop of runs, a busy service) waits longer: each
# flush then carries several runs (a flush per two runs of 6 ms cost a fifth more per run than one per
# eight), for at most this much more report latency.
_QUICK_SUCCESSION_S = 0.1
_BUSY_RUN_END_BATCH_S = 0.05
# Rows leased ahead of the senders, per sender: enough to keep them busy, few enough that a lease does
# not run out while its row waits in the queue.
_AHEAD_PER_SENDER = 2
# Acknowledged rows deleted in one spool transaction, at most: a crash before it sends them again.
_DELETE_TOGETHER = 16
# Compact, like httpx's own JSON bodies; one encoder for every report (json.dumps makes one per call).
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_WHAT_TO_FIX = {
    401: f"the API key was refused: set {config.ENV_API_KEY} (or Configuration(api_key=...)) to a valid key",
    403: f"the API key may not report for this agent: check {config.ENV_API_KEY} and "
         f"{config.ENV_ORGANIZATION_ID}",
    404: f"no such agent: check {config.ENV_AGENT_ID}, the xpander.agent.id attribute or "
         f"{config.ENV_OTEL_AGENT_MAP}",
}


_RUN_ENDED = object()  # a sender's queue entry: call on_run_end (a run ended), then send what it spooled


class _Target(NamedTuple):
    url: httpx.URL
    headers: httpx.Headers
    extensions: dict[str, Any]
    transport: httpx.BaseTransport | None  # None: through ``Client.send`` (an httpx without the lookup)
    direct: DirectTarget | None  # set: over ``http.client`` (a direct connection; see http_post)


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
    """The background sender of one spool. ``submit`` never blocks on the network and never raises.

    It starts one sender and adds more (up to ``senders``) only while requests are slow and reports wait:
    when a request that took over ``_SLOW_REQUEST_S`` leaves more reports queued than idle senders, or
    when every busy sender has been inside its request that long (a hanging one). A distant API so gets
    several requests at once, one slow round trip does not hold back every other report, and a fast
    endpoint needs one thread.
    """

    def __init__(
        self,
        spool: Spool,
        configuration: Configuration,
        *,
        policy: RetryPolicy | None = None,
        request_timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        on_idle: Callable[[], None] | None = None,
        on_run_end: Callable[[], None] | None = None,
        senders: int = 4,
    ) -> None:
        self.spool = spool
        self.configuration = configuration
        llm_keys.remember(configuration.api_key)  # so a server echoing the key cannot put it in our logs
        self.policy = policy or RetryPolicy()
        # A request (connect, write, read) fits in its send window; a row leased ahead of the senders may
        # wait in their queue for one more request timeout before its lease would be too short to send it.
        self._send_window_s = request_timeout_s * 3
        self._lease_s = self._send_window_s + request_timeout_s
        connect_timeout_s = min(5.0, request_timeout_s)
        self._http = httpx.Client(timeout=httpx.Timeout(request_timeout_s, connect=connect_timeout_s),
                                  transport=transport)
        # A transport given (tests, an application's own) is always used; without one, a direct connection
        # goes over http.client (a third of httpx's CPU per report), a proxy through httpx.
        self._connections = (KeptConnections(self._http, connect_timeout_s, request_timeout_s)
                             if transport is None else None)
        self._targets: dict[str, _Target] = {}  # agent id -> where and how its reports are POSTed
        # Rows for the senders; None stops one; _RUN_ENDED has one call ``on_run_end`` (request_idle_call).
        self._ready: queue.SimpleQueue[SpooledReport | object | None] = queue.SimpleQueue()
        self._run_end_queued = False
        self._last_run_end = float("-inf")  # when a sender last took a run end (monotonic)
        self._kept = threading.local()  # a sender's own list while it spools reports it will send itself
        self._max_senders = max(1, senders)
        self._lookahead = _AHEAD_PER_SENDER * self._max_senders  # rows leased ahead, at most (see _room)
        self._senders: list[threading.Thread] = []
        self._busy: set[int] = set()  # sender thread ids on an item; the other senders are idle
        self._in_request_since: dict[int, float] = {}  # sender thread id -> when its current POST began
        self._state = threading.Condition()  # guards the sender counts; notified when a sender is done
        self._wake = threading.Event()  # wakes the scheduler
        self._poll_now = True  # the scheduler reads the spool at its next pass, not at the next poll time
        self._backlog = False  # due rows may wait in the spool beyond what the queue holds
        self._stopping = False
        self._refusals_logged: set[tuple[int, str]] = set()
        # Called by the scheduler about once a second (the exporter reports runs whose grace period ended);
        # on_run_end (default: on_idle) by a sender when a run ends (request_idle_call). The last call of
        # either resets the second.
        self._on_idle = on_idle
        self._on_run_end = on_run_end or on_idle
        self._last_idle_call = 0.0
        self.delivered = 0
        self.dropped = 0
        spool.release_dead_owners()
        spool.make_all_due()
        self._scheduler = threading.Thread(target=self._schedule, name="xpander-otel-delivery", daemon=True)
        self._scheduler.start()
        with self._state:
            self._start_sender()

    def submit(self, items: list[tuple[str, TaskReport | dict[str, Any]]]) -> bool:
        """Spool ``(agent_id, report)`` pairs and hand them to a sender; False (logged) when the spool failed.

        A report is a ``TaskReport`` or its wire dict (``TaskReport.to_wire()``).
        """
        if not items:
            return True
        try:
            rows = [_spool_row(agent_id, report) for agent_id, report in items]
            limit = 0 if self._stopping else self._room()  # after shutdown nobody would send a leased row
            pushed_out, claimed = self.spool.put_and_claim(rows, lease_s=self._lease_s, limit=limit)
        except Exception as exc:  # a full disk or a locked file must not reach the application
            log.error("xpander-otel could not spool %d task report(s): %s", len(items), exc)
            return False
        if pushed_out:
            log.warning("xpander-otel spool is full (%d reports): dropped the %d oldest", self.spool.max_rows,
                        pushed_out)
        if len(rows) > len(claimed) and not self._backlog:
            self._backlog = True  # some rows did not fit in the queue (or wait for their older body)
        kept = getattr(self._kept, "reports", None)
        if kept is not None:
            kept.extend(claimed)  # spooled by a sender for a run that ended: it sends them itself
        else:
            self._enqueue(claimed)
        return True

    def force_flush(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until the spool is empty; False if reports are still waiting."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        self._poll_now = True
        self._wake.set()
        with self._state:
            while True:
                if self._safe_count() == 0:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._scheduler.is_alive():
                    return False
                self._state.wait(min(remaining, 0.05))

    def shutdown(self, timeout_s: float) -> bool:
        """Flush within ``timeout_s``, then stop the threads; unsent reports stay spooled for the next start."""
        flushed = self.force_flush(timeout_s)
        left = 0 if flushed else self._safe_count()
        self._stopping = True
        self._wake.set()
        join_until = time.monotonic() + 1.0
        self._scheduler.join(timeout=1.0)
        self._release_queued()
        with self._state:
            senders = list(self._senders)
        for _ in senders:
            self._ready.put(None)
        for thread in senders:
            thread.join(timeout=max(0.0, join_until - time.monotonic()))
        if not any(t.is_alive() for t in [self._scheduler, *senders]):
            self._http.close()
            self.spool.close()
        if not flushed:
            log.warning("xpander-otel: %d task report(s) not delivered yet; they stay in %s and are sent "
                        "on the next start", left, self.spool.path)
        return flushed

    def request_idle_call(self) -> None:
        """Have a sender call ``on_run_end`` now (``on_idle`` when not given), not the scheduler ``on_idle``
        within the next second.

        A run just ended: the sender that assembles and spools its report then POSTs it too, one thread
        woken per run instead of two (and one per window, ``_RUN_END_BATCH_S`` or, when runs end in quick
        succession, ``_BUSY_RUN_END_BATCH_S``, when runs end faster than that).
        """
        if not self._run_end_queued:
            self._run_end_queued = True
            self._ready.put(_RUN_ENDED)

    # --- handing rows to the senders ----------------------------------------------------------------

    def _room(self) -> int:
        """How many rows to lease ahead: the senders take them within about one round trip."""
        return max(0, self._lookahead - self._ready.qsize())

    def _enqueue(self, reports: list[SpooledReport]) -> None:
        for report in reports:
            self._ready.put(report)
        if reports:
            self._add_sender_if_slow()

    def _add_sender_if_slow(self, request_was_slow: bool = False) -> None:
        """Start another sender if reports wait that the idle senders will not take at once, and requests
        are slow: the one a sender just finished (``request_was_slow``), or every busy sender's current one."""
        with self._state:
            # None busy: the idle senders take the queue, however long. A busy sender outside a request
            # (assembling, spooling) is about to take the next item: not a reason either.
            busy = self._busy
            idle = len(self._senders) - len(busy)
            if (busy and self._ready.qsize() > idle and len(self._senders) < self._max_senders
                    and (request_was_slow or self._all_in_slow_requests(busy))):
                self._start_sender()

    def _all_in_slow_requests(self, busy: set[int]) -> bool:
        now = time.monotonic()
        in_request = self._in_request_since
        return all(now - in_request.get(sender, now) > _SLOW_REQUEST_S for sender in busy)

    def _start_sender(self) -> None:
        thread = threading.Thread(target=self._send, name=f"xpander-otel-delivery-{len(self._senders)}",
                                  daemon=True)
        self._senders.append(thread)
        thread.start()

    def _refill(self) -> None:
        """Lease due rows from the spool (retries, older rows, other processes' rows) into the queue."""
        room = self._room()
        if room <= 0 or self._stopping:
            return
        try:
            reports = self.spool.claim_due(time.time(), self._lease_s, room)
        except Exception as exc:
            log.error("xpander-otel spool read failed: %s", exc)
            return
        self._backlog = len(reports) == room
        self._enqueue(reports)

    def _release_queued(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                report = self._ready.get_nowait()
                if isinstance(report, SpooledReport):
                    self._release(report)

    def _release(self, report: SpooledReport) -> None:
        with contextlib.suppress(Exception):  # the lease then runs out on its own
            self.spool.release(report)

    # --- the threads ---------------------------------------------------------------------------------

    def _schedule(self) -> None:
        poll_at = 0.0
        while not self._stopping:
            self._wake.clear()
            self._call_on_idle()
            self._add_sender_if_slow()  # a request that hangs since the last report was queued
            now = time.time()
            if self._poll_now or now >= poll_at:
                self._poll_now = False
                self._refill()
                poll_at = self._next_poll(now)
            next_idle_call = self._last_idle_call + 1.0 if self._on_idle is not None else float("inf")
            self._wake.wait(max(0.0, min(poll_at - time.time(), next_idle_call - time.monotonic())))

    def _next_poll(self, now: float) -> float:
        due = None
        with contextlib.suppress(Exception):  # a spool read error: the next pass logs it
            due = self.spool.next_due()
        if self._backlog or due is None:  # a backlog: the senders lease more rows as they free up
            return now + _POLL_S
        return min(now + _POLL_S, max(now + 0.01, due))

    def _call_on_idle(self, requested: bool = False) -> None:
        now = time.monotonic()
        call = self._on_run_end if requested else self._on_idle
        if call is None or (now - self._last_idle_call < 1.0 and not requested):
            return
        try:
            self._last_idle_call = now
            call()
        except Exception:
            log.exception("xpander-otel periodic assembly failed")

    def _send(self) -> None:
        # Our own HTTP calls must not become spans of the user's trace (and loop back into the exporter).
        with suppress_instrumentation(), suppress_http_instrumentation():
            try:
                self._send_reports()
            finally:
                if self._connections is not None:
                    self._connections.close_mine()

    def _send_reports(self) -> None:
        while True:
            item = self._ready.get()
            if item is None:
                return
            if item is _RUN_ENDED:
                # Runs that end meanwhile share this flush. Counted idle, not as a slow request: a sleep is
                # no reason to start another sender.
                time.sleep(self._run_end_window())
            with self._state:
                self._busy.add(threading.get_ident())
            try:
                self._deliver_all(self._run_ended() if item is _RUN_ENDED else (item,))
            except Exception:  # a spool error: the row stays in the spool, leased until its lease runs out
                log.exception("xpander-otel could not settle a task report in the spool")
            if self._backlog and self._ready.qsize() <= self._lookahead // 2:
                self._refill()  # half the queue at once: one spool transaction leases several rows
            with self._state:
                self._busy.discard(threading.get_ident())
                self._state.notify_all()

    def _run_end_window(self) -> float:
        now = time.monotonic()
        previous, self._last_run_end = self._last_run_end, now
        return _BUSY_RUN_END_BATCH_S if now - previous < _QUICK_SUCCESSION_S else _RUN_END_BATCH_S

    def _run_ended(self) -> list[SpooledReport]:
        """Call ``on_run_end`` on this sender; return the reports it spooled (leased to us, to send now)."""
        self._run_end_queued = False
        self._kept.reports = []
        try:
            self._call_on_idle(requested=True)
            return self._kept.reports
        finally:
            self._kept.reports = None

    def _deliver_all(self, reports: Iterable[SpooledReport]) -> None:
        """POST reports one after another, then delete the acknowledged rows in one spool transaction.

        A crash before that transaction sends those reports again at the next start (the API takes a
        task's report again as an update, as it takes a newer body): one commit per run end instead of one
        per report.
        """
        acknowledged: list[SpooledReport] = []
        try:
            for report in reports:
                self._deliver_with_updates(report, acknowledged)
                if len(acknowledged) >= _DELETE_TOGETHER:
                    acknowledged = self._forget(acknowledged)
        finally:  # a spool error on a later report: the acknowledged ones are still forgotten
            while acknowledged:
                acknowledged = self._forget(acknowledged)

    def _forget(self, acknowledged: list[SpooledReport]) -> list[SpooledReport]:
        """Delete acknowledged rows; send the newer bodies that replaced some meanwhile (acknowledged: returned)."""
        again: list[SpooledReport] = []
        for older in self.spool.delete_all(acknowledged):  # a newer body of the task came while one was in flight
            self._deliver_with_updates(self.spool.claim(older.key, time.time(), self._lease_s), again)
        return again

    def _deliver_with_updates(self, report: SpooledReport | None, acknowledged: list[SpooledReport]) -> None:
        while report is not None:  # a newer body of the task may have come while one was in flight
            if self._stopping:
                self._release(report)
                return
            report = self._deliver(report, acknowledged)

    def _deliver(self, report: SpooledReport, acknowledged: list[SpooledReport]) -> SpooledReport | None:
        """POST one report and settle its row (an acknowledged one: into ``acknowledged``, deleted by the
        caller); return the task's newer body when it is due now."""
        if report.lease_until - time.time() < self._send_window_s:
            return None  # waited too long in the queue: the spool has it, due when the lease runs out
        try:
            status, retry_after, detail = self._post(report)
        except Exception as exc:  # never let a sender die: keep the row and try again later
            status, retry_after, detail = None, None, f"{type(exc).__name__}: {exc}"
        if status is not None and 200 <= status < 300:
            self.delivered += 1
            acknowledged.append(report)
            return None
        elif status is None or status in _RETRY_STATUSES or status >= 500:
            self._retry(report, status, retry_after, detail)
        else:
            self.dropped += 1
            self._log_refusal(report, status, detail)
            if self.spool.delete(report):
                return None
        return self.spool.claim(report.key, time.time(), self._lease_s)

    def _post(self, report: SpooledReport) -> tuple[int | None, float | None, str]:
        target = self._target(report.agent_id)
        sender = threading.get_ident()
        self._in_request_since[sender] = started = time.monotonic()  # a dict's set and pop are atomic: no lock
        try:
            if target.direct is not None and self._connections is not None:
                status, retry_after, detail = self._connections.post(target.direct, report.body.encode())
            else:
                status, retry_after, detail = self._post_through_httpx(target, report.body.encode())
        except (httpx.HTTPError, OSError, http.client.HTTPException) as exc:
            return None, None, f"{type(exc).__name__}: {exc}"
        finally:
            self._in_request_since.pop(sender, None)
            if time.monotonic() - started > _SLOW_REQUEST_S:
                self._add_sender_if_slow(request_was_slow=True)  # this sender is busy: ``busy`` is not empty
        return status, _retry_after_s(retry_after), detail

    def _post_through_httpx(self, target: _Target, body: bytes) -> tuple[int, str | None, str]:
        request = httpx.Request("POST", target.url, headers=target.headers, content=body,
                                extensions=target.extensions)
        if target.transport is None:
            response = self._http.send(request)
        else:
            # Straight to the client's transport (the same connection pool, or the proxy the environment
            # names): the client's cookie, auth and redirect handling, which a report never needs, cost two
            # thirds of a request on a fast connection.
            response = target.transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        if response.is_success:
            return response.status_code, None, ""
        return response.status_code, response.headers.get("retry-after"), response.text[:300]

    def _target(self, agent_id: str) -> _Target:
        """The URL and headers ``Backend.report_external_task`` uses for this agent (made once per agent:
        parsing them costs more than the rest of a request on a fast connection)."""
        target = self._targets.get(agent_id)
        if target is None:
            call = client.report_task_call(agent_id, TaskReport())
            headers = {**client._headers(self.configuration, call), "Content-Type": "application/json"}
            # Built by the client once: its default headers and timeouts, exactly as ``post`` would send them.
            template = self._http.build_request("POST", client._url(self.configuration, call), headers=headers)
            template.headers.pop("Content-Length", None)
            pick = getattr(self._http, "_transport_for_url", None)  # httpx's own choice of pool or proxy
            target = _Target(template.url, template.headers, template.extensions,
                             pick(template.url) if callable(pick) else None,
                             direct_target(self._http, template) if self._connections is not None else None)
            if len(self._targets) >= 1024:
                self._targets.clear()
            self._targets[agent_id] = target
        return target

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
        self._poll_now = True  # the scheduler plans its next read around the new due time
        self._wake.set()

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


def _spool_row(agent_id: str, report: TaskReport | dict[str, Any]) -> tuple[str, str, str]:
    """``(key, agent_id, body)``: the body is the JSON POSTed as it is."""
    if isinstance(report, TaskReport):
        return f"{agent_id}/{report.id}", agent_id, report.model_dump_json()
    body = _to_json(report)
    return f"{agent_id}/{report.get('id')}", agent_id, body


def _retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date."""
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
