"""The OTLP bridge: OTLP/HTTP + OTLP/gRPC receivers -> span records -> the exporter's assembler and delivery.

The dev server mounts the same OTLP/HTTP route: ``create_otlp_routes(ingest)`` with an ``Ingest`` callable,
either ``bridge.pipeline.BridgePipeline(...).ingest`` (grace window, assembler, delivery) or
``bridge.pipeline.ingest_records(on_spans)`` for its own sink of ``SpanRecord`` lists.

>>> from starlette.applications import Starlette
>>> from xpander_otel.bridge import create_otlp_routes
>>> from xpander_otel.bridge.pipeline import ingest_records
>>> app = Starlette(routes=create_otlp_routes(ingest_records(print)))

The names below load on first use: the ``xpander-otel`` command imports this package, and the server
modules (starlette, grpcio, opentelemetry-proto) come with the ``server`` extra only.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TRACES_PATH": ".http",
    "create_otlp_routes": ".http",
    "DEFAULT_GRPC_PORT": ".limits",
    "DEFAULT_HTTP_PORT": ".limits",
    "ReceiverLimits": ".limits",
    "BUSY": ".receiver",
    "Ingest": ".receiver",
    "IngestResult": ".receiver",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
