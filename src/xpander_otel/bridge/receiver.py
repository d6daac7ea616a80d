"""What the OTLP transports (HTTP and gRPC) share: the ingest seam, its result, and the token check.

A transport decodes a request and hands it to an ``Ingest`` callable; the answer says whether the
request was taken (else: busy, retry later) and how many spans were rejected (``partial_success``).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


@dataclass(frozen=True)
class IngestResult:
    """``accepted`` False means the queue is full: nothing was taken and the client should retry."""

    accepted: bool = True
    rejected_spans: int = 0
    error_message: str = ""


BUSY = IngestResult(accepted=False, error_message="the bridge queue is full; retry later")

Ingest = Callable[[ExportTraceServiceRequest], IngestResult]


def token_matches(authorization: str | None, expected: str | None) -> bool:
    """True when no token is configured, or ``authorization`` is ``Bearer <expected>``."""
    if not expected:
        return True
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())
