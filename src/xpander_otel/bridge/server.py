"""The ``xpander-otel bridge`` process: OTLP/HTTP (uvicorn + Starlette) and OTLP/gRPC (grpcio) in front
of one ``BridgePipeline``, plus ``/healthz`` and ``/metrics`` on the HTTP port.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .. import llm_keys
from ..config import Configuration, ExporterSettings, default_spool_path
from ..exporter.assembler import Assembler, AssemblerSettings
from ..exporter.delivery import Delivery
from ..exporter.spool import Spool
from . import metrics as prometheus
from .grpc_server import start_grpc_server
from .http import create_otlp_routes
from .limits import DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, ReceiverLimits
from .pipeline import BridgePipeline, PipelineSettings

log = llm_keys.get_logger(__name__)

BRIDGE_SPOOL_NAME = "bridge-spool.sqlite3"
# The grace window and the assembler hold hundreds of thousands of span records at a high rate; with
# the default thresholds (700) the collector walks them so often that it costs a fifth of the CPU.
GC_THRESHOLDS = (50_000, 20, 10)


@dataclass(frozen=True)
class BridgeOptions:
    """How a bridge listens and assembles. ``grpc_port=0`` turns OTLP/gRPC off."""

    host: str = "127.0.0.1"
    http_port: int = DEFAULT_HTTP_PORT
    grpc_port: int = DEFAULT_GRPC_PORT
    auth_token: str | None = None
    agent_id: str | None = None
    spool_path: str | None = None
    limits: ReceiverLimits = field(default_factory=ReceiverLimits)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    shutdown_timeout_s: float = 10.0
    # Reports in flight to xpander at once, at most: a bridge reports for many applications, and a distant
    # API answers each in tens of milliseconds (more senders start only while requests are slow).
    max_senders: int = 16


class _CountingDelivery(Delivery):
    """The exporter's delivery, counting the attempts it schedules again (for ``/metrics``)."""

    retried = 0
    _count_lock = threading.Lock()

    def _retry(self, *args, **kwargs) -> None:
        with self._count_lock:  # several sender threads retry at once
            self.retried += 1
        super()._retry(*args, **kwargs)


class _Server(uvicorn.Server):
    """uvicorn, but a SIGTERM/SIGINT only asks it to stop: uvicorn re-raises the signal after its own
    shutdown, which would kill the process before the bridge has spooled the spans it holds."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, _sig: int, _frame: object) -> None:
        self.should_exit = True


def build_pipeline(options: BridgeOptions, configuration: Configuration | None = None, *,
                   transport: httpx.BaseTransport | None = None) -> BridgePipeline:
    """The exporter's assembler and delivery, set up like the exporter's (same settings, own spool file)."""
    configuration = configuration or Configuration()
    settings = ExporterSettings()
    assembler = Assembler(AssemblerSettings(
        default_agent_id=options.agent_id or configuration.agent_id,
        agent_map=settings.agent_map,
        max_spans_per_trace=settings.max_spans_per_trace,
        max_open_traces=settings.max_open_traces,
        trace_ttl_s=settings.trace_ttl_s,
        pending_grace_s=options.pipeline.grace_s,
    ))
    # Its own file by default: an exporter sharing the file would cap it at the exporter's spool size.
    spool_path = options.spool_path or str(default_spool_path().with_name(BRIDGE_SPOOL_NAME))
    spool = Spool(spool_path, max_rows=2 * options.pipeline.max_spooled_reports)
    delivery = _CountingDelivery(spool, configuration, transport=transport, senders=options.max_senders)
    return BridgePipeline(assembler, delivery, options.pipeline)


def create_bridge_app(pipeline: BridgePipeline, options: BridgeOptions) -> Starlette:
    """``POST /v1/traces`` feeding ``pipeline``, ``GET /healthz`` and ``GET /metrics``."""

    async def healthz(_: Request) -> Response:
        body = {"status": "ok" if pipeline.healthy else "stopping", "pending_spans": pipeline.pending_spans}
        return JSONResponse(body, status_code=200 if pipeline.healthy else 503)

    async def metrics(_: Request) -> Response:
        return PlainTextResponse(pipeline.metrics.render(), media_type=prometheus.CONTENT_TYPE)

    routes = create_otlp_routes(pipeline.ingest, auth_token=options.auth_token, limits=options.limits)
    routes += [Route("/healthz", healthz), Route("/metrics", metrics)]
    return Starlette(routes=routes)


def tune_gc() -> None:
    """Fewer collections for a process that holds many objects; what startup made is never collected."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve(options: BridgeOptions, configuration: Configuration | None = None) -> None:
    """Run the bridge until SIGINT/SIGTERM; then assemble what is held and drain delivery."""
    tune_gc()
    pipeline = build_pipeline(options, configuration)
    grpc_server = None
    try:
        if options.grpc_port:
            grpc_server, _ = start_grpc_server(pipeline.ingest, port=options.grpc_port, host=options.host,
                                               auth_token=options.auth_token, limits=options.limits)
        app = create_bridge_app(pipeline, options)
        server = _Server(uvicorn.Config(app, host=options.host, port=options.http_port,
                                               log_level="warning", lifespan="off"))
        log.info("xpander bridge: OTLP/HTTP on http://%s:%d/v1/traces%s; spool %s", options.host,
                    options.http_port,
                    f", OTLP/gRPC on {options.host}:{options.grpc_port}" if options.grpc_port else "",
                    Path(pipeline.delivery.spool.path))
        server.run()
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=2).wait(3)
        pipeline.close(options.shutdown_timeout_s)
