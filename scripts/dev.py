#!/usr/bin/env python3
"""Project runner that needs nothing but python3: ``python3 scripts/dev.py demo|test|lint|bench [nox args]``.

It keeps its own tool environment (``.venv-tools`` with nox and uv) and hands over to nox, which builds
one virtual environment per test group (frameworks pin conflicting versions). Re-runnable: existing
environments are reused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".venv-tools"
TOOL_REQUIREMENTS = ["nox==2026.10.20", "uv==0.13.8"]
COMMANDS = {
    "demo": ["-s", "demo"],
    "test": [],
    "lint": ["-s", "lint"],
    # Every benchmark (docs/benchmarks.md), each in its own environment; not part of `test`.
    "bench": ["-s", "bench_core", "bench_agno", "bench_openai_agents"],
}


def _tool(name: str) -> Path:
    return TOOLS / ("Scripts" if os.name == "nt" else "bin") / name


def ensure_tools() -> None:
    marker = TOOLS / ".requirements"
    wanted = "\n".join(TOOL_REQUIREMENTS)
    if marker.exists() and marker.read_text() == wanted and _tool("nox").exists():
        return
    if not _tool("python").exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
    subprocess.run([str(_tool("python")), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    *TOOL_REQUIREMENTS], check=True)
    marker.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        return 2
    ensure_tools()
    env = {**os.environ, "PATH": f"{_tool('nox').parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(_tool("nox")), "--no-error-on-missing-interpreters", *COMMANDS[argv[0]], *argv[1:]]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
