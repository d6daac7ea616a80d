"""``xpander_otel.configure()``: report every agent run to xpander with one line.

It adds an ``XpanderSpanProcessor`` with an ``XpanderSpanExporter`` to the global ``TracerProvider``
(creating one with a service resource when none is set) and instruments each installed framework that
has an xpander instrumentor. It does not touch the user's other processors or exporters.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import llm_keys
from .config import Configuration
from .exporter import XpanderSpanExporter, XpanderSpanProcessor

log = llm_keys.get_logger(__name__)

INSTRUMENTOR_GROUP = "opentelemetry_instrumentor"
INSTRUMENTOR_PREFIX = "xpander_"
_DEFAULT_SERVICE_NAME = "xpander-agent"

_lock = threading.Lock()
_active: Telemetry | None = None


@dataclass
class Telemetry:
    """What ``configure()`` set up; ``shutdown()`` flushes the reports and undoes the instrumentation."""

    tracer_provider: TracerProvider
    exporter: XpanderSpanExporter
    processor: BatchSpanProcessor
    instrumented: list[str] = field(default_factory=list)
    _instrumentors: list[Any] = field(default_factory=list, repr=False)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export the spans already ended and wait for their reports to be delivered."""
        return self.processor.force_flush(timeout_millis) and self.exporter.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        global _active
        with _lock:
            for instrumentor in self._instrumentors:
                try:
                    instrumentor.uninstrument()
                except Exception:
                    log.exception("xpander-otel could not uninstrument %s", type(instrumentor).__name__)
            self._instrumentors.clear()
            # Exports what is queued, then shuts the exporter down.
            if isinstance(self.processor, XpanderSpanProcessor):
                self.processor.shutdown(timeout_millis)
            else:
                self.processor.shutdown()
            if _active is self:
                _active = None


def configure(
    agent_id: str | None = None,
    *,
    configuration: Configuration | None = None,
    agent_map: Mapping[str, str] | None = None,
    spool_path: str | Path | None = None,
    service_name: str | None = None,
    tracer_provider: TracerProvider | None = None,
    instrument: bool = True,
) -> Telemetry:
    """Report each agent run of this process to xpander as a task. Safe to call twice (returns the same setup).

    >>> import xpander_otel
    >>> telemetry = xpander_otel.configure(agent_id="agent-123")    # doctest: +SKIP
    >>> ...                                                         # run agents as usual
    >>> telemetry.shutdown()                                        # doctest: +SKIP
    """
    global _active
    with _lock:
        if _active is not None:
            return _active
        provider = tracer_provider or _global_sdk_provider(service_name)
        processor = _attached_xpander_processor(provider)
        if processor is not None:
            # OTEL_TRACES_EXPORTER=xpander already reports these runs: a second exporter would send each twice.
            log.info("xpander-otel: using the xpander exporter that OTEL_TRACES_EXPORTER installed "
                     "(configured from the environment)")
        else:
            exporter = XpanderSpanExporter(agent_id, configuration=configuration, agent_map=agent_map,
                                           spool_path=spool_path, watch_global_provider=False)
            processor = XpanderSpanProcessor(exporter)
            provider.add_span_processor(processor)
        telemetry = Telemetry(provider, processor.span_exporter, processor)
        if instrument:
            _instrument_all(telemetry)
        _active = telemetry
        return telemetry


def _attached_xpander_processor(provider: TracerProvider) -> BatchSpanProcessor | None:
    multi = getattr(provider, "_active_span_processor", None)
    for processor in getattr(multi, "_span_processors", ()):
        if isinstance(processor, BatchSpanProcessor) and isinstance(
                getattr(processor, "span_exporter", None), XpanderSpanExporter):
            return processor
    return None


def _global_sdk_provider(service_name: str | None) -> TracerProvider:
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES (read by the SDK) win over our fallback name.
    resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: _DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    trace.set_tracer_provider(provider)
    if trace.get_tracer_provider() is not provider:
        # Another (non-SDK) provider was set first: ours still works for the instrumentors we start.
        log.warning("xpander-otel: a non-SDK global TracerProvider is already set; agent spans are traced "
                    "through xpander-otel's own provider")
    return provider


def _instrument_all(telemetry: Telemetry) -> None:
    """``instrument()`` each installed xpander instrumentor; frameworks that are not installed are skipped."""
    for entry_point in entry_points(group=INSTRUMENTOR_GROUP):
        if not entry_point.name.startswith(INSTRUMENTOR_PREFIX):
            continue
        try:
            instrumentor = entry_point.load()()
            if instrumentor.is_instrumented_by_opentelemetry:
                continue
            # Checked here so that a framework that is not installed is skipped quietly (instrument() logs it).
            conflict = instrumentor._check_dependency_conflicts()
            if conflict is not None:
                log.debug("xpander-otel skips %s: %s", entry_point.name, conflict)
                continue
            instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
        except Exception as exc:
            log.warning("xpander-otel could not instrument %s: %s", entry_point.name, exc)
            continue
        if instrumentor.is_instrumented_by_opentelemetry:
            telemetry.instrumented.append(entry_point.name)
            telemetry._instrumentors.append(instrumentor)
