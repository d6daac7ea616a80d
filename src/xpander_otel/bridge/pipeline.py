"""The bridge's pipeline: OTLP requests -> span records -> grace window -> the exporter's ``Assembler``
-> the exporter's ``Delivery`` (SQLite spool, retries). One worker thread owns the assembly.

``ingest`` is what the receivers call. It never blocks on assembly or the network: it converts the
spans, queues them, and answers busy (503 / UNAVAILABLE) when the queue plus the spans held in the
grace window would pass ``max_pending_spans`` — the client keeps them and retries, nothing is dropped.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .. import config, llm_keys
from ..exporter import conventions
from ..exporter.assembler import AssembledTask, Assembler
from ..exporter.spans import SpanRecord
from ..models import TaskReport
from .grace import GraceWindow
from .metrics import Metrics
from .otlp_records import ASSEMBLER_KEYS, Converted, records_from_request
from .receiver import BUSY, IngestResult

log = llm_keys.get_logger(__name__)


@dataclass(frozen=True)
class PipelineSettings:
    """``grace_s``: wait after a trace's task root arrived; ``max_hold_s``: longest wait without one."""

    grace_s: float = 5.0
    max_hold_s: float = 60.0
    max_pending_spans: int = 200_000
    # Reports waiting in the spool (xpander slow or down) before the bridge stops taking spans: the
    # spool keeps twice this, so it never has to push out an old report.
    max_spooled_reports: int = 50_000
    tick_s: float = 0.2


class ReportSink(Protocol):
    """Where assembled reports go: the exporter's ``Delivery`` (spool + POST), or a store in the process."""

    delivered: int
    dropped: int

    def submit(self, items: list[tuple[str, TaskReport | dict[str, Any]]]) -> bool:
        """``(agent_id, report)`` pairs; a report is a ``TaskReport`` or its wire dict."""

    def shutdown(self, timeout_s: float) -> bool: ...


def is_anchor(record: SpanRecord) -> bool:
    """Spans that open a trace's grace window: agent runs (task roots) and local roots."""
    return record.is_local_root or conventions.is_agent(record)


class BridgePipeline:
    """Queue + worker thread + grace window + assembler + delivery, with the bridge's metrics.

    >>> pipeline = BridgePipeline(Assembler(), delivery)     # doctest: +SKIP
    >>> create_otlp_routes(pipeline.ingest)                  # doctest: +SKIP
    """

    def __init__(self, assembler: Assembler, delivery: ReportSink, settings: PipelineSettings | None = None, *,
                 metrics: Metrics | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or PipelineSettings()
        self.assembler = assembler
        self.delivery = delivery
        self.metrics = metrics or Metrics()
        self._clock = clock
        self._grace: GraceWindow[SpanRecord] = GraceWindow(self.settings.grace_s, self.settings.max_hold_s,
                                                           is_anchor)
        self._queue: deque[list[SpanRecord]] = deque()
        self._queued_spans = 0
        self._assembling = 0  # spans released by the grace window, in the assembler right now
        self._spooled = 0  # reports in the spool, read by the worker each tick
        self._lock = threading.Condition()
        self._stopping = False
        self._unaddressed_logged: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="xpander-bridge-assembly", daemon=True)
        self._register_gauges()
        self._thread.start()

    # --- what the receivers call -----------------------------------------------------------------------

    def ingest(self, request: ExportTraceServiceRequest) -> IngestResult:
        if self.full:  # refused before it is converted: a saturated bridge would spend its CPU on refusals
            self.metrics.count("requests_refused_busy")
            return BUSY
        converted = records_from_request(request, keep=ASSEMBLER_KEYS)
        if converted.records and not self.offer(converted.records):
            self.metrics.count("requests_refused_busy")
            return BUSY
        self.metrics.count("spans_received", len(converted.records))
        if converted.rejected:
            self.metrics.count("spans_rejected", converted.rejected)
        return _accepted(converted)

    def offer(self, records: list[SpanRecord]) -> bool:
        """Queue records for assembly; False (nothing taken) when the bridge is at its limit."""
        with self._lock:
            if self._refuses(len(records)):
                return False
            self._queue.append(records)
            self._queued_spans += len(records)
            self._lock.notify()
        return True

    @property
    def full(self) -> bool:
        """True when not even one more span would be taken (``offer`` would refuse any request)."""
        with self._lock:
            return self._refuses(1)

    def _refuses(self, spans: int) -> bool:
        """Whether ``spans`` more spans would pass the limits (called with the lock held)."""
        pending = self._queued_spans + self._grace.held_spans
        return self._stopping or self._spooled >= self.settings.max_spooled_reports or (
            pending > 0 and pending + spans > self.settings.max_pending_spans)

    @property
    def healthy(self) -> bool:
        return self._thread.is_alive() and not self._stopping

    @property
    def pending_spans(self) -> int:
        """Spans taken but not yet assembled into spooled reports (queued, held, or being assembled)."""
        with self._lock:
            return self._queued_spans + self._grace.held_spans + self._assembling

    def close(self, timeout_s: float = 10.0) -> bool:
        """Assemble what is held (nothing more will come), spool it, and let delivery drain in ``timeout_s``."""
        with self._lock:
            if self._stopping:
                return not self._thread.is_alive()
            self._stopping = True
            self._lock.notify()
        self._thread.join(timeout=timeout_s)
        self._deliver(self.assembler.add(self._grace.flush(), self._clock()) + self.assembler.flush())
        return self.delivery.shutdown(timeout_s)

    # --- the worker ------------------------------------------------------------------------------------

    def _run(self) -> None:
        last_tick = float("-inf")
        while True:
            with self._lock:
                if not self._queue and not self._stopping:
                    self._lock.wait(self.settings.tick_s)
                batches = list(self._queue)
                self._queue.clear()
                stopping = self._stopping
            # Expiry and the spool count look at every open trace and spool row: once a tick, not per batch.
            now = self._clock()
            tick = stopping or now - last_tick >= self.settings.tick_s
            try:
                self._assemble(batches, now, expire=tick)
                if tick:
                    last_tick = now
                    self._spooled = self._spool_count()
            except Exception:  # a bad span must not stop the bridge; the next batch goes on
                log.exception("xpander bridge could not assemble %d batch(es)", len(batches))
            if stopping:
                return

    def _assemble(self, batches: list[list[SpanRecord]], now: float, *, expire: bool = True) -> None:
        passing: list[SpanRecord] = []
        with self._lock:  # so that pending_spans never misses spans moving from the window to the assembler
            self._queued_spans -= sum(len(b) for b in batches)
            for batch in batches:
                passing.extend(self._grace.add(batch, now))
            if expire:
                passing.extend(self._grace.expire(now))
            self._assembling = len(passing)
        try:
            tasks = self.assembler.add(passing, now) if passing else []
            self._deliver(tasks + self.assembler.expire(now) if expire else tasks)
        finally:
            self._assembling = 0

    def _deliver(self, tasks: list[AssembledTask]) -> None:
        items = []
        for task in tasks:
            if task.agent_id is None:
                self.metrics.count("reports_unaddressed")
                self._log_unaddressed(task)
            else:
                items.append((task.agent_id, task.body))
        if items and self.delivery.submit(items):
            self.metrics.count("reports_assembled", len(items))

    def _log_unaddressed(self, task: AssembledTask) -> None:
        name = task.agent_name or "?"
        if name in self._unaddressed_logged:
            return
        self._unaddressed_logged.add(name)
        log.warning("xpander bridge dropped the task report of agent %r: no xpander agent id. Set %s for the "
                    "bridge, send xpander.agent.id on the agent span, or map the name with %s.",
                    name, config.ENV_AGENT_ID, config.ENV_OTEL_AGENT_MAP)

    def _spool_count(self) -> int:
        spool = getattr(self.delivery, "spool", None)  # a store delivery (the dev server's) has none
        return spool.count() if spool is not None else 0

    def _register_gauges(self) -> None:
        delivery = self.delivery
        self.metrics.gauge("open_traces", "Traces held in the grace window or the assembler.",
                           lambda: self._grace.open_traces + self.assembler.open_traces)
        self.metrics.gauge("pending_spans", "Spans queued or held in the grace window.", lambda: self.pending_spans)
        self.metrics.gauge("reports_spooled", "Reports in the spool waiting for delivery.", self._spool_count)
        self.metrics.gauge("reports_sent", "Reports the xpander API acknowledged.", lambda: delivery.delivered,
                           counter=True)
        self.metrics.gauge("reports_dropped", "Reports the xpander API refused (4xx).", lambda: delivery.dropped,
                           counter=True)
        self.metrics.gauge("reports_retried", "Delivery attempts that will be retried.",
                           lambda: getattr(delivery, "retried", 0), counter=True)


def ingest_records(on_spans: Callable[[list[SpanRecord]], bool | None]) -> Callable[
        [ExportTraceServiceRequest], IngestResult]:
    """An ``Ingest`` for any span-record sink (the dev server's): ``on_spans`` returning False means busy."""

    def ingest(request: ExportTraceServiceRequest) -> IngestResult:
        converted = records_from_request(request)
        if converted.records and on_spans(converted.records) is False:
            return BUSY
        return _accepted(converted)

    return ingest


def _accepted(converted: Converted) -> IngestResult:
    if not converted.rejected:
        return IngestResult()
    return IngestResult(rejected_spans=converted.rejected,
                        error_message=f"{converted.rejected} span(s) rejected: {converted.reason}")
