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

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from .. import config, llm_keys
from ..config import Configuration, ExporterSettings
from .assembler import AssembledTask, Assembler, AssemblerSettings
from .delivery import Delivery, RetryPolicy
from .spans import SpanRecord
from .spool import MEMORY, Spool

log = llm_keys.get_logger(__name__)
# Span ancestry notes kept for spans not exported yet; past this (spans lost upstream) they are forgotten.
_MAX_ANCESTRY_NOTES = 100_000
# Expiry walks every buffered trace, so export() runs it at most this often (the delivery worker's idle
# tick runs it too); per batch it cost more than assembling a small batch once a few hundred traces are held.
_EXPIRE_EVERY_S = 1.0
# Batches export() has handed to the assembly thread and not yet assembled. Past this, export() waits for
# room (up to _HANDOFF_WAIT_S, then assembles the batch itself): the batch processor's thread slows down
# and its queue fills, rather than spans being lost here.
_MAX_HANDED_OFF_BATCHES = 8
_HANDOFF_WAIT_S = 1.0


class XpanderSpanExporter(SpanExporter):
    """A span exporter that turns each finished agent run into one xpander task report.

    ``export()`` hands each batch to the exporter's assembly thread, which turns it into reports and writes
    them to a local SQLite spool; a background worker delivers them (retries, backoff, replay after a
    crash). It never raises into the application and never waits on the network. A bad configuration is
    logged once and the exporter then does nothing.
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
        watch_global_provider: bool = True,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._lock = threading.Lock()  # the assembler: one batch at a time
        # The notes below come from the application's threads, which must not wait for a batch's assembly.
        self._notes_lock = threading.Lock()
        self._lost_traces: set[int] = set()
        self._lost_unknown = False
        self._ancestry: dict[int, bool] = {}
        self._awaited_roots: set[int] = set()  # task roots that ended and should be exported early
        self._last_expire = 0.0
        self._handed_off: deque[list[ReadableSpan]] = deque()  # export() -> the assembly thread
        self._handoff = threading.Condition()
        self._unassembled = 0  # batches handed off and not assembled yet (queued or in progress)
        self._assembly_thread: threading.Thread | None = None
        self._early_export = threading.local()  # set while this exporter flushes its batch processor itself
        self._provider: Any = None
        self._own_processor: BatchSpanProcessor | None = None  # set by XpanderSpanProcessor
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
            self.configuration.get_full_url()  # an agent-controller URL without organization fails here
            _warn_without_api_key(self.configuration)
            spool_path = str(spool_path) if spool_path is not None else settings.spool_path
            # After a fork (pre-forking servers) the child gets a delivery of its own: see _for_this_process.
            self._new_delivery = lambda: Delivery(
                _open_spool(spool_path), self.configuration, policy=retry_policy,
                request_timeout_s=request_timeout_s, transport=transport, on_idle=self._tick,
                on_run_end=self._after_run_end, senders=settings.max_senders)
            self._delivery = self._new_delivery()
            self._pid = os.getpid()
            self._start_assembly_thread()  # now, so that no export() waits for a thread to start
            _forget_locks_in_forked_children(self)
            if watch_global_provider:
                self._watch_global_provider()
        except Exception as exc:  # bad configuration: say why once, then stay out of the way
            self._assembler = None
            log.error("xpander-otel exporter is disabled: %s", llm_keys.scrub(str(exc)))

    @property
    def enabled(self) -> bool:
        return self._delivery is not None and not self._shut_down

    # --- SpanExporter ----------------------------------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.enabled:
            return SpanExportResult.SUCCESS
        try:
            self._for_this_process()
            if not all(isinstance(s, ReadableSpan) for s in spans):
                raise TypeError("export() takes SDK ReadableSpans")
            if self._awaited_roots:
                self._note_exported_roots(spans)
            if getattr(self._early_export, "running", False):
                self._assemble_batch(spans)  # on the delivery's thread already: no second hand-off
            elif not self._hand_off(spans):
                self._assemble_batch(spans)  # the assembly thread is stuck: do its work, lose nothing
        except Exception:
            log.exception("xpander-otel could not turn %d span(s) into task reports", len(spans))
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        if not self.enabled:
            return True
        deadline = time.monotonic() + timeout_millis / 1000
        self._for_this_process()
        self._after_run_end()  # may hand off the batch of a task root that just ended
        assembled = self._wait_assembled(timeout_millis / 1000)
        return self._delivery.force_flush(max(0.0, deadline - time.monotonic())) and assembled

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        if not self.enabled:
            return
        deadline = time.monotonic() + min(timeout_millis / 1000, self._shutdown_wait_s)
        try:
            self._wait_assembled(timeout_millis / 1000)
            self._stop_assembly_thread()
            with self._lock:
                tasks = self._assembler.flush()
            self._deliver(tasks)
        except Exception:
            log.exception("xpander-otel could not report the runs still open at shutdown")
        self._shut_down = True
        self._delivery.shutdown(max(0.0, deadline - time.monotonic()))

    @property
    def spool(self) -> Spool | None:
        """The spool, once the batches already given to ``export()`` are in it (waits 5 s at most)."""
        if self._delivery is None:
            return None
        self._wait_assembled(5.0)
        return self._delivery.spool

    # --- what the watching span processor tells us -----------------------------------------------------

    def note_lost_span(self, trace_id: int | None) -> None:
        """A span processor dropped a span of ``trace_id`` (None: of an unknown trace)."""
        with self._notes_lock:
            if trace_id is None:
                self._lost_unknown = True
            else:
                self._lost_traces.add(trace_id)

    def note_ancestry(self, span_id: int, agent_ancestor: bool) -> None:
        """Whether an agent span was open above ``span_id`` when it started (seen by a span processor)."""
        # No lock: this runs on the application's thread at every span end, and the assembly thread pops
        # the notes while it converts a batch. A dict's set, pop and clear are atomic on their own.
        if len(self._ancestry) >= _MAX_ANCESTRY_NOTES:
            self._ancestry.clear()
        self._ancestry[span_id] = agent_ancestor

    def export_soon(self, span_id: int) -> None:
        """A task root just ended: have the batch processor that wraps us export it now, not in 5 s."""
        if not self.enabled:
            return
        with self._notes_lock:
            self._awaited_roots.add(span_id)
        self._delivery.request_idle_call()

    # --- internals -------------------------------------------------------------------------------------

    def _for_this_process(self) -> None:
        """A forked child shares neither the parent's threads nor its SQLite connection."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._delivery = self._new_delivery()

    # --- the assembly thread ---------------------------------------------------------------------------

    def _hand_off(self, spans: Sequence[ReadableSpan]) -> bool:
        """Queue a batch for the assembly thread, waiting while it is full; False if it stayed full."""
        with self._handoff:
            if not self._handoff.wait_for(lambda: len(self._handed_off) < _MAX_HANDED_OFF_BATCHES,
                                          _HANDOFF_WAIT_S):
                return False
            if self._assembly_thread is None:  # a forked child's first batch
                self._start_assembly_thread()
            self._handed_off.append(list(spans))  # the caller may reuse its sequence
            self._unassembled += 1
            self._handoff.notify()
        return True

    def _start_assembly_thread(self) -> None:
        self._assembly_thread = threading.Thread(target=self._assemble_handed_off, name="xpander-otel-assembly",
                                                 daemon=True)
        self._assembly_thread.start()

    def _assemble_handed_off(self) -> None:
        while True:
            with self._handoff:
                while not self._handed_off and self._assembly_thread is threading.current_thread():
                    self._handoff.wait()
                if not self._handed_off:
                    return  # stopped, and nothing is left
                spans = self._handed_off.popleft()
                self._handoff.notify_all()  # room for an export() waiting to hand off
            try:
                self._assemble_batch(spans)
            except Exception:
                log.exception("xpander-otel could not turn %d span(s) into task reports", len(spans))
            finally:
                with self._handoff:
                    self._unassembled -= 1
                    self._handoff.notify_all()

    def _wait_assembled(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until every handed-off batch is assembled and its reports spooled."""
        deadline = time.monotonic() + timeout_s
        with self._handoff:
            while self._unassembled:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._handoff.wait(remaining)
        return True

    def _stop_assembly_thread(self) -> None:
        with self._handoff:
            thread, self._assembly_thread = self._assembly_thread, None
            self._handoff.notify_all()
        if thread is not None:
            thread.join(timeout=1.0)

    def _forget_handed_off(self) -> None:
        """In a forked child: the parent assembles its own batches; this process starts afresh."""
        self._handoff = threading.Condition()
        self._handed_off = deque()
        self._unassembled = 0
        self._assembly_thread = None

    def _assemble_batch(self, spans: Sequence[ReadableSpan]) -> None:
        ancestry = self._ancestry
        with self._lock:
            records = [SpanRecord.from_readable_span(s, ancestry.pop(s.context.span_id, None)) for s in spans]
            tasks = self._assemble(records)
        self._deliver(tasks)

    def _note_exported_roots(self, spans: Sequence[ReadableSpan]) -> None:
        with self._notes_lock:
            self._awaited_roots.difference_update(s.context.span_id for s in spans)

    def _assemble(self, records: list[SpanRecord]) -> list[AssembledTask]:
        now = time.monotonic()
        assembler = self._assembler
        with self._notes_lock:
            lost, self._lost_traces = self._lost_traces, set()
            lost_unknown, self._lost_unknown = self._lost_unknown, False
        if lost_unknown:
            # A span was lost but we do not know its trace: every trace in this batch may be short of one.
            lost.update(r.trace_id for r in records)
        for trace_id in lost:
            assembler.mark_incomplete(trace_id, now)
        tasks = assembler.add(records, now)
        if now - self._last_expire >= _EXPIRE_EVERY_S:
            self._last_expire = now
            tasks += assembler.expire(now)
        return tasks

    def _tick(self) -> None:
        """Report runs whose parents never came (grace period over): the delivery's scheduler, once a second."""
        if self._assembler is None or self._shut_down:
            return
        now = time.monotonic()
        # Expiry walks every buffered trace: at most once a second, not at each early export (one per run).
        if now - self._last_expire >= _EXPIRE_EVERY_S:
            with self._lock:
                self._last_expire = now
                tasks = self._assembler.expire(now)
            self._deliver(tasks)

    def _after_run_end(self) -> None:
        """A task root ended (``export_soon``): export it now, on the delivery sender that woke for it.

        Not on the scheduler's once-a-second tick: every run end has a sender on its way, and a second
        thread flushing the same processor next to a busy application only waits for its GIL.
        """
        self._tick()
        if self._awaited_roots and self.enabled:
            self._export_awaited_roots()

    def _export_awaited_roots(self) -> None:
        # The watcher sees a root end before the batch processor queues it: flush until it came through.
        # Only the roots awaited now: a run that ends during the flush asks for an early export of its own.
        processor = self._wrapping_processor()
        with self._notes_lock:
            awaited = set(self._awaited_roots)
        deadline = time.monotonic() + 1.0
        # The batch processor exports on this (the delivery's) thread during force_flush: export() then
        # assembles right here instead of waking the assembly thread (one thread switch less per run).
        self._early_export.running = True
        try:
            while processor is not None and time.monotonic() < deadline:
                processor.force_flush()
                if awaited.isdisjoint(self._awaited_roots):
                    break
                time.sleep(0.01)
        finally:
            self._early_export.running = False
        with self._notes_lock:
            self._awaited_roots.difference_update(awaited)

    def _wrapping_processor(self) -> BatchSpanProcessor | None:
        """The batch processor that ``opentelemetry-instrument`` (or the user) wrapped us in."""
        if self._own_processor is not None:
            return self._own_processor
        multi = getattr(self._provider, "_active_span_processor", None)
        for processor in getattr(multi, "_span_processors", ()):
            if isinstance(processor, BatchSpanProcessor) and getattr(processor, "span_exporter", None) is self:
                return processor
        return None

    def _watch_global_provider(self) -> None:
        """Watch run ends on the global SDK provider (where the zero-code configurator adds us)."""
        from .processor import RunEndWatcher  # the processors module imports this one

        provider = trace.get_tracer_provider()
        if isinstance(provider, TracerProvider):
            self._provider = provider
            provider.add_span_processor(RunEndWatcher(self))

    def _deliver(self, tasks: list[AssembledTask]) -> None:
        items: list[tuple[str, Any]] = []
        for task in tasks:
            if task.agent_id is None:
                self._log_unaddressed(task)
                continue
            items.append((task.agent_id, task.body))
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


def _forget_locks_in_forked_children(exporter: XpanderSpanExporter) -> None:
    # A lock held by one of the parent's threads at fork time would stay held forever in the child.
    ref = weakref.ref(exporter)

    def reinit() -> None:
        alive = ref()
        if alive is not None:
            alive._lock = threading.Lock()
            alive._notes_lock = threading.Lock()
            alive._forget_handed_off()

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=reinit)


def _warn_without_api_key(configuration: Configuration) -> None:
    if configuration.api_key is None and configuration.base_url == config.DEFAULT_BASE_URL:
        log.warning("xpander-otel: %s is not set, so %s will refuse the task reports; set it or point %s "
                    "at a local dev server", config.ENV_API_KEY, config.DEFAULT_BASE_URL, config.ENV_BASE_URL)


def _open_spool(path: str) -> Spool:
    try:
        return Spool(path)
    except Exception as exc:
        if path == MEMORY:
            raise
        log.error("xpander-otel cannot use the spool %s (%s): reports are kept in memory only; set %s to a "
                  "writable file", path, exc, config.ENV_OTEL_SPOOL)
        return Spool(MEMORY)
