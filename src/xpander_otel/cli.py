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
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
