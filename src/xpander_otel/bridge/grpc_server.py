"""OTLP/gRPC ``TraceService/Export`` with grpcio: the same ingest seam and answers as OTLP/HTTP.

gzip-compressed requests are inflated by grpcio itself; ``max_receive_message_length`` caps the
inflated message, so a compression bomb ends as RESOURCE_EXHAUSTED before it is held in memory. The
request is decoded here rather than by grpcio, so a malformed one is INVALID_ARGUMENT (grpcio would say
INTERNAL).
"""

from __future__ import annotations

from concurrent import futures

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from .decode import PROTOBUF, BadPayload, export_response, parse_request
from .limits import ReceiverLimits
from .receiver import Ingest, token_matches

_SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name


class TraceService:
    """``Export`` of the OTLP trace service, over the ingest seam."""

    def __init__(self, ingest: Ingest, auth_token: str | None, retry_after_seconds: int) -> None:
        self._ingest = ingest
        self._auth_token = auth_token
        # OTLP's retry hint for UNAVAILABLE: a google.rpc.RetryInfo in the trailing metadata.
        self._retry_info = RetryInfo(retry_delay=Duration(seconds=retry_after_seconds)).SerializeToString()

    def export(self, payload: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        metadata = dict(context.invocation_metadata())
        if not token_matches(metadata.get("authorization"), self._auth_token):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            request = parse_request(payload, PROTOBUF)
        except BadPayload as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        result = self._ingest(request)
        if not result.accepted:
            context.set_trailing_metadata([("google.rpc.retryinfo-bin", self._retry_info)])
            context.abort(grpc.StatusCode.UNAVAILABLE, result.error_message)
        return export_response(result.rejected_spans, result.error_message)


def start_grpc_server(
    ingest: Ingest,
    *,
    port: int,
    host: str = "127.0.0.1",
    auth_token: str | None = None,
    limits: ReceiverLimits | None = None,
    workers: int = 4,
) -> tuple[grpc.Server, int]:
    """Start the OTLP/gRPC receiver; returns the server and the port it bound (``port=0``: a free one)."""
    limits = limits or ReceiverLimits()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        options=[("grpc.max_receive_message_length", limits.max_decompressed_bytes)],
    )
    service = TraceService(ingest, auth_token, limits.retry_after_seconds)
    # Raw bytes in (no request deserializer): a malformed request is ours to answer.
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(_SERVICE, {
        "Export": grpc.unary_unary_rpc_method_handler(
            service.export, response_serializer=ExportTraceServiceResponse.SerializeToString),
    })])
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise OSError(f"cannot bind the OTLP/gRPC port {host}:{port}")
    server.start()
    return server, bound
