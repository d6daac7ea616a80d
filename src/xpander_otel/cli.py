"""The ``xpander-otel`` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xpander-otel", description="xpander.ai through OpenTelemetry")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run an instrumented agent against the local dev server")
    run = sub.add_parser("run", help="serve an @on_task handler (module:handler), or run it once with --prompt")
    run.add_argument("handler", help="module:function, e.g. my_agent:handle_task")
    run.add_argument("--prompt", help="run one task with this input locally, print it, and exit")
    run.add_argument("--agent-id", help="the agent (default: XPANDER_AGENT_ID)")
    args = parser.parse_args(argv)
    if args.command == "run":
        from .worker.local import run_command

        return run_command(args.handler, prompt=args.prompt, agent_id=args.agent_id)
    if args.command == "demo":
        print("demo arrives with the dev server")
    return 0


if __name__ == "__main__":
    sys.exit(main())
