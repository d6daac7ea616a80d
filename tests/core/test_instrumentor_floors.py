"""Each instrumentor's declared floor is a release its framework's tests run on.

``tests/requirements/<name>.floor.txt`` pins it where it is older than the current pin
(``<name>.txt``); the ``<name>_floor`` nox session runs the framework's tests there.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = sorted(p.parent.name for p in (ROOT / "src" / "xpander_otel" / "instrumentation").glob("*/package.py"))


def pins(path: Path) -> dict[str, Version]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {canonicalize_name(r.name): Version(next(iter(r.specifier)).version) for r in map(Requirement, lines)}


def test_every_framework_is_seen():
    assert FRAMEWORKS == ["agno", "crewai", "google_adk", "langchain", "openai_agents", "pydantic_ai",
                          "smolagents", "strands"]


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_the_instrumentors_floor_is_a_tested_release(name):
    (declared,) = importlib.import_module(f"xpander_otel.instrumentation.{name}.package")._instruments
    requirement = Requirement(declared)
    (floor,) = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    requirements = ROOT / "tests" / "requirements"
    floor_file = requirements / f"{name}.floor.txt"
    tested = pins(floor_file if floor_file.exists() else requirements / f"{name}.txt")
    assert tested[canonicalize_name(requirement.name)] == floor
