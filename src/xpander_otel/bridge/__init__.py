"""The OTLP bridge: OTLP/HTTP + OTLP/gRPC receivers -> span records -> the exporter's assembler and delivery.

The dev server mounts the same OTLP/HTTP route: ``create_otlp_routes(ingest)`` with an ``Ingest`` callable,
either ``bridge.pipeline.BridgePipeline(...).ingest`` (grace window, assembler, delivery) or
``bridge.pipeline.ingest_records(on_spans)`` for its own sink of ``SpanRecord`` lists.

>>> from starlette.applications import Starlette
>>> from xpander_otel.bridge.pipeline import ingest_records
>>> app = Starlette(routes=create_otlp_routes(ingest_records(print)))
"""

from .http import TRACES_PATH, create_otlp_routes
from .limits import DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, ReceiverLimits
from .receiver import BUSY, Ingest, IngestResult

__all__ = [
    "BUSY",
    "DEFAULT_GRPC_PORT",
    "DEFAULT_HTTP_PORT",
    "TRACES_PATH",
    "Ingest",
    "IngestResult",
    "ReceiverLimits",
    "create_otlp_routes",
]
