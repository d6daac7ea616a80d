"""The OTLP bridge: OTLP/HTTP + OTLP/gRPC receivers -> span records -> the exporter's assembler and delivery.

The dev server mounts the same OTLP/HTTP route: ``create_otlp_routes(ingest)`` with an ``Ingest``
callable, e.g. ``BridgePipeline.ingest`` or ``ingest_records(on_spans)`` for a plain span-record sink.
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
