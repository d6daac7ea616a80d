"""``xpander-otel doctor``: what is set up, what is reachable, and what to fix.

Four checks, each ending in ``ok``, ``warn`` or ``FAIL`` with advice: the configuration (which variables
are set; secret values are never printed), the xpander API (reachable, key accepted, agent known), the
installed frameworks and which xpander instrumentors load, and the exporter's spool (reports waiting).
The command exits with 1 when any check fails.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import urlparse

import httpx

from . import config
from .config import Configuration, ExporterSettings

OK, WARN, FAIL = "ok", "warn", "FAIL"
INSTRUMENTOR_GROUP = "opentelemetry_instrumentor"
INSTRUMENTOR_PREFIX = "xpander_"
# Variables whose values are credentials: doctor says only whether they are set.
_SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


@dataclass
class Check:
    """The outcome of one check: a status, one line of summary, detail lines and advice when not ok."""

    name: str
    status: str = OK
    summary: str = ""
    details: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    def problem(self, status: str, advice: str) -> None:
        # A failure outranks a warning; every problem keeps its own advice line.
        if self.status != FAIL:
            self.status = status
        self.advice.append(advice)


def is_secret(name: str) -> bool:
    return any(marker in name for marker in _SECRET_MARKERS)


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_configuration() -> tuple[Check, Configuration | None, ExporterSettings | None]:
    check = Check("configuration")
    present = config.variables_set(config.environment_variables())
    for name in config.environment_variables():
        if name in present:
            shown = "set (value hidden)" if is_secret(name) else present[name]
            check.details.append(f"{name} = {shown}")
    try:
        configuration = Configuration()
        full_url = configuration.get_full_url()
    except ValueError as exc:
        check.summary = "the xpander settings are not valid"
        check.problem(FAIL, str(exc).splitlines()[0])
        return check, None, None
    try:
        settings = ExporterSettings()
    except ValueError as exc:
        settings = None
        check.problem(FAIL, f"the exporter settings are not valid: {_first_error(exc)}")
    key = "set" if configuration.api_key else "not set"
    check.summary = f"API {full_url}, API key {key}, agent {configuration.agent_id or 'not set'}"
    if configuration.api_key is None and not _is_loopback(configuration.base_url):
        check.problem(FAIL, f"set {config.ENV_API_KEY} to your xpander API key (or Configuration(api_key=...)); "
                            f"for an offline try, run `xpander-otel serve` and set "
                            f"{config.ENV_BASE_URL}={config.DEFAULT_DEVSERVER_URL}")
    if configuration.agent_id is None and not (settings and settings.agent_map):
        check.problem(WARN, f"runs that carry no xpander agent id are dropped: set {config.ENV_AGENT_ID}, "
                            f"{config.ENV_OTEL_AGENT_MAP}, or build agents with Backend().get_args(...)")
    return check, configuration, settings


def _first_error(exc: ValueError) -> str:
    # pydantic wraps our ValueError("XPANDER_OTEL_...: ...") in a ValidationError; show the message only.
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return str(errors()[0].get("msg", exc)).removeprefix("Value error, ")
    return str(exc)


def check_api(configuration: Configuration | None, timeout: float,
              transport: httpx.BaseTransport | None = None) -> Check:
    check = Check("xpander API")
    if configuration is None:
        check.summary = "skipped: fix the configuration first"
        check.problem(FAIL, "the API cannot be checked without a valid configuration (see above)")
        return check
    url = configuration.get_full_url()
    try:
        with httpx.Client(base_url=url, headers=configuration.headers(), timeout=timeout,
                          transport=transport) as client:
            response = client.get("/metadata/default_llm_extra_headers")
            agent = client.get(f"/agents/{configuration.agent_id}") if configuration.agent_id else None
    except httpx.HTTPError as exc:
        check.summary = f"cannot reach {url} ({type(exc).__name__})"
        check.problem(FAIL, f"check {config.ENV_BASE_URL} and your network; for the local dev server run "
                            f"`xpander-otel serve` (it listens on {config.DEFAULT_DEVSERVER_URL})")
        return check
    if response.status_code in (401, 403):
        check.summary = f"{url} refused the API key (HTTP {response.status_code})"
        check.problem(FAIL, f"set {config.ENV_API_KEY} to a valid key of this organization "
                            f"(and {config.ENV_ORGANIZATION_ID} on an agent-controller URL)")
        return check
    if not response.is_success:
        check.summary = f"{url} answered HTTP {response.status_code}: not an xpander API?"
        check.problem(FAIL, f"{config.ENV_BASE_URL} should be the xpander API root "
                            f"(default {config.DEFAULT_BASE_URL})")
        return check
    check.summary = f"{url} reachable, API key accepted"
    if agent is not None:
        if agent.is_success:
            check.details.append(f"agent {configuration.agent_id}: {agent.json().get('name', '?')}")
        else:
            check.problem(FAIL, f"agent {configuration.agent_id} was not found (HTTP {agent.status_code}): "
                                f"check {config.ENV_AGENT_ID}")
    return check


def check_instrumentors() -> Check:
    check = Check("frameworks and instrumentors")
    found = [ep for ep in entry_points(group=INSTRUMENTOR_GROUP) if ep.name.startswith(INSTRUMENTOR_PREFIX)]
    if not found:
        check.summary = "no xpander instrumentors are registered"
        check.problem(FAIL, "reinstall the package (`pip install --force-reinstall xpander-otel`): its "
                            f"{INSTRUMENTOR_GROUP} entry points are missing")
        return check
    active = []
    for entry_point in sorted(found, key=lambda ep: ep.name):
        try:
            instrumentor = entry_point.load()()
            wanted = ", ".join(instrumentor.instrumentation_dependencies())
            conflict = instrumentor._check_dependency_conflicts()
        except Exception as exc:
            check.details.append(f"{entry_point.name}: does not load ({type(exc).__name__}: {exc})")
            check.problem(FAIL, f"{entry_point.name} failed to load: reinstall xpander-otel with its extra")
            continue
        if conflict is None:
            active.append(entry_point.name)
            check.details.append(f"{entry_point.name}: loads, {wanted} installed")
        else:
            # The usual case is "not installed"; a version outside the range says which version it found.
            # Read from the conflict's fields: its text differs between opentelemetry-instrumentation releases.
            found_version = getattr(conflict, "found", None) or ", ".join(getattr(conflict, "found_any", None) or ())
            check.details.append(f"{entry_point.name}: skipped, needs {wanted}"
                                 + (f" (found {found_version})" if found_version else ""))
    check.summary = f"{len(active)} of {len(found)} instrumentors active: {', '.join(active) or 'none'}"
    if not active:
        check.problem(WARN, "no supported framework is installed: pip install \"xpander-otel[agno]\" (or "
                            "openai-agents, langchain, strands, google-adk, crewai, pydantic-ai, smolagents)")
    return check


def check_spool(settings: ExporterSettings | None) -> Check:
    # Imported here: the spool belongs to the exporter, which the other checks do not need.
    from .exporter.spool import MEMORY, Spool

    check = Check("spool")
    if settings is None:
        check.summary = "skipped: fix the exporter settings first"
        check.problem(FAIL, "the spool path comes from the exporter settings (see above)")
        return check
    if settings.spool_path == MEMORY:
        check.summary = "in memory: reports not yet delivered are lost if the process dies"
        check.problem(WARN, f"unset {config.ENV_OTEL_SPOOL} (or point it at a file) for durable delivery")
        return check
    path = Path(settings.spool_path)
    if not path.exists():
        folder = next((p for p in path.parents if p.exists()), None)
        check.summary = f"{path}: no reports yet (the file is created on first use)"
        if folder is None or not _writable(folder):
            check.problem(FAIL, f"{folder} is not writable: set {config.ENV_OTEL_SPOOL} to a writable path")
        return check
    try:
        spool = Spool(path)
        try:
            waiting = spool.count()
        finally:
            spool.close()
    except Exception as exc:
        check.summary = f"{path} cannot be opened ({type(exc).__name__}: {exc})"
        check.problem(FAIL, f"move the file away or set {config.ENV_OTEL_SPOOL} to another path")
        return check
    check.summary = f"{path}: {waiting} report(s) waiting for delivery"
    if waiting:
        check.problem(WARN, "waiting reports are sent by the next process that runs the exporter with this "
                            "spool; if they stay, look at the xpander API check above")
    return check


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


def run_checks(timeout: float = 5.0, transport: httpx.BaseTransport | None = None) -> list[Check]:
    configuration_check, configuration, settings = check_configuration()
    return [configuration_check, check_api(configuration, timeout, transport), check_instrumentors(),
            check_spool(settings)]


def render(checks: list[Check], write: Callable[[str], None] = print) -> None:
    for check in checks:
        write(f"[{check.status:<4}] {check.name}: {check.summary}")
        for line in check.details:
            write(f"       {line}")
        for line in check.advice:
            write(f"       -> {line}")


def main(timeout: float = 5.0) -> int:
    checks = run_checks(timeout)
    render(checks)
    failed = [c.name for c in checks if c.status == FAIL]
    print(f"\n{len(failed)} check(s) failed: {', '.join(failed)}" if failed else "\nall checks passed")
    return 1 if failed else 0
