"""Fails unless every direct dependency of the given extras is installed at the floor pyproject.toml declares.

The core_oldest session runs it after installing with ``--resolution lowest-direct``: its tests then run on
the oldest releases the package says it accepts.

    python tests/check_floors.py server dev
"""

from __future__ import annotations

import sys
from importlib.metadata import requires, version

from packaging.requirements import Requirement
from packaging.version import Version


def floors_not_installed(extras: list[str]) -> list[str]:
    wrong = []
    for requirement in map(Requirement, requires("xpander-otel") or ()):
        marker = requirement.marker
        if marker is not None and not any(marker.evaluate({"extra": extra}) for extra in extras):
            continue
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if not floors:
            continue
        installed = version(requirement.name)
        if Version(installed) != Version(floors[0]):
            wrong.append(f"{requirement.name}: {installed} installed, the floor is {floors[0]}")
    return wrong


if __name__ == "__main__":
    problems = floors_not_installed(sys.argv[1:])
    print("\n".join(problems) or "every direct dependency is installed at its floor")
    sys.exit(1 if problems else 0)
