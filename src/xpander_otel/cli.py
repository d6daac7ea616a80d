"""The ``xpander-otel`` command."""

from __future__ import annotations

import argparse
import sys

from .bridge.commands import add_commands as add_bridge_commands
from .devserver.commands import add_commands as add_devserver_commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xpander-otel", description="xpander.ai through OpenTelemetry")
    sub = parser.add_subparsers(dest="command", required=True)
    add_devserver_commands(sub)  # serve, demo, tasks
    add_bridge_commands(sub)  # bridge
    _add_doctor_parser(sub)
    _add_run_command(sub)
    args = parser.parse_args(argv)
    return args.handler(args)


def _add_doctor_parser(sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser("doctor", help="check configuration, API, instrumentors and spool, with advice",
                            description="Check the xpander settings (secret values are not printed), the "
                                        "API (reachable, key accepted, agent known), installed frameworks and "
                                        "instrumentors, and the exporter's spool. Exits with 1 when a check fails.")
    doctor.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the API")
    doctor.set_defaults(handler=_run_doctor)


def _run_doctor(args: argparse.Namespace) -> int:
    from . import doctor

    return doctor.main(timeout=args.timeout)


def _add_run_command(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="serve an @on_task handler (module:handler), or run it once with --prompt")
    run.add_argument("target", metavar="module:handler", help="e.g. my_agent:handle_task")
    run.add_argument("--prompt", help="run one task with this input locally, print it, and exit")
    run.add_argument("--agent-id", help="the agent (default: XPANDER_AGENT_ID)")
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from .worker.local import run_command

    return run_command(args.target, prompt=args.prompt, agent_id=args.agent_id)


if __name__ == "__main__":
    sys.exit(main())
