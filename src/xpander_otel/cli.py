"""The ``xpander-otel`` command."""

from __future__ import annotations

import argparse
import sys

from .devserver.commands import add_commands as add_devserver_commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xpander-otel", description="xpander.ai through OpenTelemetry")
    sub = parser.add_subparsers(dest="command", required=True)
    add_devserver_commands(sub)  # serve, demo, tasks
    _add_bridge_parser(sub)
    args = parser.parse_args(argv)
    return args.handler(args)


def _add_bridge_parser(sub: argparse._SubParsersAction) -> None:
    from .bridge.limits import DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT

    bridge = sub.add_parser("bridge", help="OTLP receiver (HTTP + gRPC) that turns traces into task reports",
                            description="Receive OTLP traces (e.g. from an OpenTelemetry Collector) and report "
                                        "each agent run as an xpander task. xpander settings come from the "
                                        "environment (XPANDER_API_KEY, XPANDER_AGENT_ID, XPANDER_BASE_URL, ...).")
    bridge.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)")
    bridge.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT, help="OTLP/HTTP, /healthz, /metrics")
    bridge.add_argument("--grpc-port", type=int, default=DEFAULT_GRPC_PORT, help="OTLP/gRPC (0: off)")
    bridge.add_argument("--auth-token", default=None,
                        help="bearer token clients must send (default: XPANDER_BRIDGE_TOKEN; none: no check)")
    bridge.add_argument("--agent-id", default=None, help="agent for runs that name none (default: XPANDER_AGENT_ID)")
    bridge.add_argument("--spool", default=None, help="SQLite spool file (default: XPANDER_OTEL_SPOOL or the cache dir)")
    bridge.add_argument("--grace-seconds", type=float, default=5.0,
                        help="wait after a trace's task root arrives before assembling it")
    bridge.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024)
    bridge.add_argument("--max-decompressed-bytes", type=int, default=32 * 1024 * 1024)
    bridge.add_argument("--max-pending-spans", type=int, default=200_000,
                        help="queued + held spans before the bridge answers 503/UNAVAILABLE")
    bridge.add_argument("--max-spooled-reports", type=int, default=50_000,
                        help="undelivered reports before the bridge answers 503/UNAVAILABLE")
    bridge.set_defaults(handler=_run_bridge)


def _run_bridge(args: argparse.Namespace) -> int:
    import logging

    from . import config
    from .bridge.limits import ReceiverLimits
    from .bridge.pipeline import PipelineSettings
    from .bridge.server import BridgeOptions, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = BridgeOptions(
        host=args.host, http_port=args.http_port, grpc_port=args.grpc_port,
        auth_token=args.auth_token or config.bridge_token(), agent_id=args.agent_id, spool_path=args.spool,
        limits=ReceiverLimits(max_body_bytes=args.max_body_bytes, max_decompressed_bytes=args.max_decompressed_bytes),
        pipeline=PipelineSettings(grace_s=args.grace_seconds, max_pending_spans=args.max_pending_spans,
                                  max_spooled_reports=args.max_spooled_reports),
    )
    serve(options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
