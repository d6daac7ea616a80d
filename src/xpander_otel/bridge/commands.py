"""The bridge's subcommand of ``xpander-otel``: ``bridge``.

Server modules (grpcio, starlette, uvicorn, opentelemetry-proto) are imported when the command runs, so
the rest of the command line works with the core install.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

from .. import config
from .limits import DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT


def add_commands(sub: Any) -> None:
    """Add ``bridge`` to the ``xpander-otel`` subparsers."""
    bridge = sub.add_parser("bridge", help="OTLP receiver (HTTP + gRPC) that turns traces into task reports",
                            description="Receive OTLP traces (e.g. from an OpenTelemetry Collector) and report "
                                        "each agent run as an xpander task. xpander settings come from the "
                                        "environment (XPANDER_API_KEY, XPANDER_AGENT_ID, XPANDER_BASE_URL, ...).")
    bridge.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)")
    bridge.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT, help="OTLP/HTTP, /healthz, /metrics")
    bridge.add_argument("--grpc-port", type=int, default=DEFAULT_GRPC_PORT, help="OTLP/gRPC (0: off)")
    bridge.add_argument("--auth-token", default=None,
                        help=f"bearer token clients must send (default: ${config.ENV_BRIDGE_TOKEN}; none: no check)")
    bridge.add_argument("--agent-id", default=None,
                        help=f"agent for runs that name none (default: ${config.ENV_AGENT_ID})")
    bridge.add_argument("--spool", default=None,
                        help="SQLite spool file (default: bridge-spool.sqlite3 in the user's xpander-otel cache folder)")
    bridge.add_argument("--grace-seconds", type=float, default=5.0,
                        help="wait after a trace's task root arrives before assembling it")
    bridge.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024)
    bridge.add_argument("--max-decompressed-bytes", type=int, default=32 * 1024 * 1024)
    bridge.add_argument("--max-pending-spans", type=int, default=200_000,
                        help="queued + held spans before the bridge answers 503/UNAVAILABLE")
    bridge.add_argument("--max-spooled-reports", type=int, default=50_000,
                        help="undelivered reports before the bridge answers 503/UNAVAILABLE")
    bridge.add_argument("--max-senders", type=_positive_int, default=16,
                        help="reports in flight to xpander at once, at most (more start only while requests are slow)")
    bridge.set_defaults(handler=bridge_command)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def bridge_command(args: argparse.Namespace) -> int:
    for module in ("grpc", "starlette", "uvicorn", "opentelemetry.proto"):
        if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
            print(f"xpander-otel bridge: {module} is missing: pip install 'xpander-otel[server]'", file=sys.stderr)
            return 2
    import logging

    from .limits import ReceiverLimits
    from .pipeline import PipelineSettings
    from .server import BridgeOptions, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: one line per delivered report. Failures are logged by the delivery.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = BridgeOptions(
        host=args.host, http_port=args.http_port, grpc_port=args.grpc_port,
        auth_token=args.auth_token or config.bridge_token(), agent_id=args.agent_id, spool_path=args.spool,
        limits=ReceiverLimits(max_body_bytes=args.max_body_bytes, max_decompressed_bytes=args.max_decompressed_bytes),
        pipeline=PipelineSettings(grace_s=args.grace_seconds, max_pending_spans=args.max_pending_spans,
                                  max_spooled_reports=args.max_spooled_reports),
        max_senders=args.max_senders,
    )
    try:
        serve(options)
    except (ValueError, OSError) as exc:  # bad settings or a port in use: one line, not a traceback
        print(f"xpander-otel bridge: {exc}", file=sys.stderr)
        return 2
    return 0
