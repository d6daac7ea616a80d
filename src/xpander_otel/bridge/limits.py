"""What one OTLP request may cost the receiver: body size, decompressed size, queue depth."""

from __future__ import annotations

from dataclasses import dataclass

# The OTLP ports (the same defaults as the Collector's otlp receiver).
DEFAULT_GRPC_PORT = 4317
DEFAULT_HTTP_PORT = 4318


@dataclass(frozen=True)
class ReceiverLimits:
    """Caps a receiver enforces before it trusts a payload.

    ``max_body_bytes`` is the request body as sent (413 above it, also for chunked bodies);
    ``max_decompressed_bytes`` caps what a gzip body may inflate to, so a small bomb is a 413, not an
    out-of-memory kill.

    >>> ReceiverLimits().max_body_bytes
    8388608
    """

    max_body_bytes: int = 8 * 1024 * 1024
    max_decompressed_bytes: int = 32 * 1024 * 1024
    # Backpressure: a client is asked to retry after this many seconds when the queue is full.
    retry_after_seconds: int = 2
