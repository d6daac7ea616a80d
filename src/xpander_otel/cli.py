"""The ``xpander-otel`` command."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xpander-otel", description="xpander.ai through OpenTelemetry")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run an instrumented agent against the local dev server")
    args = parser.parse_args(argv)
    if args.command == "demo":
        print("demo arrives with the dev server")
    return 0


if __name__ == "__main__":
    sys.exit(main())
