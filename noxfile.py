"""Test environments: one virtual environment per group, because frameworks pin conflicting versions.

Run everything with ``python3 scripts/dev.py test`` (the README's command), or one group with
``python3 scripts/dev.py test -s core``.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "core", "core_oldest"]

PYTEST = ["pytest", "-p", "no:cacheprovider"]


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff==0.17.6")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples", "scripts", "noxfile.py")


@nox.session
def core(session: nox.Session) -> None:
    """Client, keys, dev server, exporter and bridge: no agent framework installed."""
    # The OTLP JSON exporter (a bridge client in tests) needs the newest SDK, which some frameworks' pins
    # exclude: so it is installed here, not in the dev extra every environment shares.
    # trustme: the certificates of the HTTPS delivery tests.
    session.install("-e", ".[server,dev]", "opentelemetry-exporter-otlp-json-http>=0.66b0", "trustme>=1.1")
    session.run(*PYTEST, "tests/core", *session.posargs)


@nox.session
def core_oldest(session: nox.Session) -> None:
    """The core tests on the oldest releases pyproject.toml accepts: every direct dependency at its floor."""
    session.install("--resolution", "lowest-direct", "-e", ".[server,dev]", "trustme>=1.1")
    session.run("python", "tests/check_floors.py", "server", "dev")
    # The OTLP JSON exporter (a bridge client in two modules) starts at 0.66b0, for newer SDKs: those two run in core.
    session.run(*PYTEST, "tests/core", "--ignore=tests/core/test_bridge_e2e.py",
                "--ignore=tests/core/test_bridge_fuzz.py", *session.posargs)


# The browser test drives Debian's Chromium (no browser download: only package registries are reachable).
CHROMIUM = Path("/usr/bin/chromium")


@nox.session
def browser(session: nox.Session) -> None:
    """The task pages in real headless Chromium; installs Debian's chromium first when it is missing."""
    if not CHROMIUM.exists():
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run(*sudo, "apt-get", "update", external=True, env=env)
        session.run(*sudo, "apt-get", "install", "-y", "chromium", external=True, env=env)
    session.install("-e", ".[server,dev]", "playwright==1.65.2")
    session.run(*PYTEST, "tests/browser", *session.posargs)


@nox.session
def devserver_sdk(session: nox.Session) -> None:
    """The real xpander-sdk as a client of the dev server (its own environment: the SDK pins agno 2.x)."""
    session.install("-e", ".[server,dev]", "xpander-sdk[agno]==2.0.537")
    session.run(*PYTEST, "tests/devserver_sdk", *session.posargs)


nox.options.sessions += ["browser", "devserver_sdk"]


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site: ``mkdocs build --strict`` (broken links, missing pages or bad API references fail)."""
    session.install("-e", ".", "mkdocs-material==9.8.1", "mkdocstrings==1.0.8", "mkdocstrings-python==2.0.11")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(Path(session.create_tmp()) / "site"),
                env={"NO_MKDOCS_2_WARNING": "1"})


nox.options.sessions.append("docs")


@nox.session
def demo(session: nox.Session) -> None:
    """The README's first command: the dev server and an instrumented agent on the scripted LLM."""
    session.install("-e", ".[server,agno]", "-r", "tests/requirements/agno.txt")
    session.run("xpander-otel", "demo", *session.posargs)


# One environment per agent framework: extra name -> test folder. Each installs the framework's pinned
# versions from tests/requirements/<name>.txt (current releases) and runs its folder. Two variants run where
# a requirements file for them exists: <name>_oldest (tests/requirements/<name>.oldest.txt, the oldest release
# the extra accepts, whose API differs) runs the get_args tests; <name>_floor (<name>.floor.txt, the oldest
# release the instrumentor accepts, where that is older than the current pin) runs the whole folder.
FRAMEWORKS = {
    "agno": "agno",
    "openai_agents": "openai-agents",
    "langchain": "langchain",
    "strands": "strands",
    "google_adk": "google-adk",
    "crewai": "crewai",
    "pydantic_ai": "pydantic-ai",
    "smolagents": "smolagents",
}
VARIANTS = {
    "": "",
    "oldest": "The get_args tests on the oldest release the extra accepts (tests/requirements/<name>.oldest.txt).",
    "floor": "The tests on the oldest release the instrumentor accepts (tests/requirements/<name>.floor.txt).",
}


def _framework_tests(name: str, variant: str) -> list[str]:
    folder = f"tests/frameworks/{name}"
    if variant == "oldest":
        return sorted(glob.glob(f"{folder}/test_get_args*.py"))
    if variant == "floor":  # the environment check asserts the current pin, not this one
        return [folder, f"--ignore={folder}/test_{name}_environment.py"]
    return [folder]


def _framework_session(session_name: str, name: str, extra: str, variant: str, requirements: str):
    def run(session: nox.Session) -> None:
        session.install("-e", f".[server,dev,{extra}]", "-r", requirements)
        session.run(*PYTEST, *_framework_tests(name, variant), *session.posargs)

    run.__doc__ = VARIANTS[variant] or None
    return nox.session(name=session_name)(run)


for _variant in VARIANTS:
    for _name, _extra in FRAMEWORKS.items():
        _requirements = f"tests/requirements/{_name}{'.' + _variant if _variant else ''}.txt"
        if not Path(_requirements).exists():
            continue  # no such release pinned for this framework
        _session_name = f"{_name}_{_variant}" if _variant else _name
        globals()[f"session_{_session_name}"] = _framework_session(_session_name, _name, _extra, _variant, _requirements)
        nox.options.sessions.append(_session_name)


# Benchmarks (docs/benchmarks.md): not in the default list. Each framework's overhead benchmark gets its own
# environment with both peers' instrumentations, which pin their own OpenTelemetry ranges.
# `python3 scripts/dev.py bench` runs them all.
BENCH_PEERS = {
    "agno": ["openinference-instrumentation-agno==1.0.15", "opentelemetry-instrumentation-agno==0.62.4",
             "opentelemetry-instrumentation-openai==0.62.4"],
    "openai_agents": ["openinference-instrumentation-openai-agents==2.6.0",
                      "opentelemetry-instrumentation-openai-agents==0.62.4",
                      "opentelemetry-instrumentation-openai==0.62.4"],
}


def _bench_session(name: str, extra: str):
    @nox.session(name=f"bench_{name}", default=False)
    def run(session: nox.Session) -> None:
        session.install("-e", f".[server,dev,{extra}]", "-r", f"tests/requirements/{name}.txt", *BENCH_PEERS[name])
        session.run("python", "benchmarks/bench_overhead.py", "--framework", name,
                    "--json", f"benchmarks/results/overhead_{name}.json", *session.posargs)

    return run


for _name in BENCH_PEERS:
    globals()[f"session_bench_{_name}"] = _bench_session(_name, FRAMEWORKS[_name])


@nox.session(default=False)
def bench_core(session: nox.Session) -> None:
    """Exporter and delivery cost, bridge ingest, memory with many open traces, report latency."""
    session.install("-e", ".[server,dev]")
    for script in ("bench_exporter", "bench_delivery", "bench_bridge", "bench_memory", "bench_report_latency"):
        session.run("python", f"benchmarks/{script}.py", "--json", f"benchmarks/results/{script}.json")
