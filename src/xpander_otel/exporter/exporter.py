"""``XpanderSpanExporter``: finished agent runs in, xpander task reports out (spooled, then POSTed).

>>> from opentelemetry.sdk.trace import TracerProvider
>>> from opentelemetry.sdk.trace.export import BatchSpanProcessor
>>> provider = TracerProvider()
>>> provider.add_span_processor(BatchSpanProcessor(XpanderSpanExporter(agent_id="agent-123")))  # doctest: +SKIP

With no arguments it reads the environment (``XPANDER_API_KEY``, ``XPANDER_BASE_URL``,
``XPANDER_AGENT_ID``, ``XPANDER_OTEL_*``: see ``config.ExporterSettings``), which is how
``OTEL_TRACES_EXPORTER=xpander opentelemetry-instrument python app.py`` creates it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .. import config, llm_keys
from ..config import Configuration, ExporterSettings
from .assembler import AssembledTask, Assembler, AssemblerSettings
from .delivery import Delivery, RetryPolicy
from .spans import SpanRecord
from .spool import MEMORY, Spool

log = llm_keys.get_logger(__name__)
# Span ancestry notes kept for spans not exported yet; past this (spans lost upstream) they are forgotten.
_MAX_ANCESTRY_NOTES = 100_000


class XpanderSpanExporter(SpanExporter):
    """A span exporter that turns each finished agent run into one xpander task report.

    ``export()`` assembles reports and writes them to a local SQLite spool; a background worker delivers
    them (retries, backoff, replay after a crash). It never raises into the application and never
    waits on the network. A bad configuration is logged once and the exporter then does nothing.
    """

    def __init__(
        self,
        agent_id: str | None = None,
        *,
        configuration: Configuration | None = None,
        agent_map: Mapping[str, str] | None = None,
        spool_path: str | Path | None = None,
        settings: ExporterSettings | None = None,
        pending_grace_s: float = 10.0,
        request_timeout_s: float = 10.0,
        shutdown_wait_s: float = 5.0,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._lost_traces: set[int] = set()
        self._lost_unknown = False
        self._ancestry: dict[int, bool] = {}
        self._unaddressed_logged: set[str] = set()
        self._assembler: Assembler | None = None
        self._delivery: Delivery | None = None
        self._shut_down = False
        # Reports are safe in the spool: at exit, wait this long at most for the endpoint (sent next start).
        self._shutdown_wait_s = shutdown_wait_s
        try:
            self.configuration = configuration or Configuration()
            settings = settings or ExporterSettings()
            self._assembler = Assembler(AssemblerSettings(
                default_agent_id=agent_id or self.configuration.agent_id,
                agent_map=dict(agent_map if agent_map is not None else settings.agent_map),
                max_spans_per_trace=settings.max_spans_per_trace,
                max_open_traces=settings.max_open_traces,
                trace_ttl_s=settings.trace_ttl_s,
                pending_grace_s=pending_grace_s,
            ))
            spool = _open_spool(str(spool_path) if spool_path is not None else settings.spool_path)
            self._delivery = Delivery(spool, self.configuration, policy=retry_policy,
                                      request_timeout_s=request_timeout_s, transport=transport,
                                      on_idle=self._tick)
        except Exception as exc:  # bad configuration: say why once, then stay out of the way
            self._assembler = None
            log.error("xpander-otel exporter is disabled: %s", llm_keys.scrub(str(exc)))

    @property
    def enabled(self) -> bool:
        return self._delivery is not None and not self._shut_down

    @property
    def spool(self) -> Spool | None:
        return self._delivery.spool if self._delivery is not None else None

    # --- SpanExporter ----------------------------------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.enabled:
            return SpanExportResult.SUCCESS
        try:
            with self._lock:
                records = [SpanRecord.from_readable_span(s, self._ancestry.pop(s.context.span_id, None))
                           for s in spans]
                tasks = self._assemble(records)
            self._deliver(tasks)
        except Exception:
            log.exception("xpander-otel could not turn %d span(s) into task reports", len(spans))
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        if not self.enabled:
            return True
        self._tick()
        return self._delivery.force_flush(timeout_millis / 1000)

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        if not self.enabled:
            return
        try:
            with self._lock:
                tasks = self._assembler.flush()
            self._deliver(tasks)
        except Exception:
            log.exception("xpander-otel could not report the runs still open at shutdown")
        self._shut_down = True
        self._delivery.shutdown(min(timeout_millis / 1000, self._shutdown_wait_s))

    # --- what the watching span processor tells us -----------------------------------------------------

    def note_lost_span(self, trace_id: int | None) -> None:
        """A span processor dropped a span of ``trace_id`` (None: of an unknown trace)."""
        with self._lock:
            if trace_id is None:
                self._lost_unknown = True
            else:
                self._lost_traces.add(trace_id)

    def note_ancestry(self, span_id: int, agent_ancestor: bool) -> None:
        """Whether an agent span was open above ``span_id`` when it started (seen by a span processor)."""
        with self._lock:
            if len(self._ancestry) >= _MAX_ANCESTRY_NOTES:
                self._ancestry.clear()
            self._ancestry[span_id] = agent_ancestor

    # --- internals -------------------------------------------------------------------------------------

    def _assemble(self, records: list[SpanRecord]) -> list[AssembledTask]:
        now = time.monotonic()
        assembler = self._assembler
        if self._lost_unknown:
            # A span was lost but we do not know its trace: every trace in this batch may be short of one.
            self._lost_traces.update(r.trace_id for r in records)
            self._lost_unknown = False
        for trace_id in self._lost_traces:
            assembler.mark_incomplete(trace_id, now)
        self._lost_traces.clear()
        return assembler.add(records, now) + assembler.expire(now)

    def _tick(self) -> None:
        """Report runs whose parents never came (grace period over): called by the delivery worker."""
        if self._assembler is None or self._shut_down:
            return
        with self._lock:
            tasks = self._assembler.expire(time.monotonic())
        self._deliver(tasks)

    def _deliver(self, tasks: list[AssembledTask]) -> None:
        items: list[tuple[str, Any]] = []
        for task in tasks:
            if task.agent_id is None:
                self._log_unaddressed(task)
                continue
            items.append((task.agent_id, task.report))
        if items:
            self._delivery.submit(items)

    def _log_unaddressed(self, task: AssembledTask) -> None:
        name = task.agent_name or "?"
        if name in self._unaddressed_logged:
            return
        self._unaddressed_logged.add(name)
        log.warning(
            "xpander-otel dropped the task report of agent %r: no xpander agent id. Set %s, pass "
            "agent_id=..., run it inside xpander_otel.task(agent_id=...), or map the name with %s.",
            name, config.ENV_AGENT_ID, config.ENV_OTEL_AGENT_MAP,
        )


def _open_spool(path: str) -> Spool:
    try:
        return Spool(path)
    except Exception as exc:
        if path == MEMORY:
            raise
        log.error("xpander-otel cannot use the spool %s (%s): reports are kept in memory only; set %s to a "
                  "writable file", path, exc, config.ENV_OTEL_SPOOL)
        return Spool(MEMORY)
