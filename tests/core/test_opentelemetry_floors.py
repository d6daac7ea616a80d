"""The OpenTelemetry floors pyproject.toml declares are the releases the core_oldest session tests."""

from __future__ import annotations

from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def declared_floors() -> dict[str, str]:
    floors = {}
    # The installed package's requirements (pyproject.toml's, extras included) as its metadata states them.
    for requirement in map(Requirement, requires("xpander-otel")):
        if requirement.name.startswith("opentelemetry-"):
            (floor,) = [spec.version for spec in requirement.specifier if spec.operator == ">="]
            floors[requirement.name] = floor
    return floors


def oldest_pins() -> dict[str, str]:
    lines = (ROOT / "tests" / "requirements" / "core.oldest.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if line and not line.startswith("#")]
    return {pin.name: next(iter(pin.specifier)).version for pin in pins}


def test_every_opentelemetry_floor_is_pinned_for_the_oldest_session():
    floors = declared_floors()
    assert floors == {
        "opentelemetry-api": "1.39", "opentelemetry-sdk": "1.39", "opentelemetry-proto": "1.39",
        "opentelemetry-exporter-otlp-proto-http": "1.39", "opentelemetry-exporter-otlp-proto-grpc": "1.39",
        "opentelemetry-instrumentation": "0.60b0", "opentelemetry-semantic-conventions": "0.60b0",
        "opentelemetry-distro": "0.60b0",
    }
    # Versions compare as PEP 440 says: the pin 1.39.0 is the floor 1.39.
    assert {name: Version(v) for name, v in oldest_pins().items()} == {name: Version(v) for name, v in floors.items()}
