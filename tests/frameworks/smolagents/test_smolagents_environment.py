"""The smolagents test environment installs the pinned release (tests/requirements/smolagents.txt)."""

from importlib.metadata import version
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements" / "smolagents.txt"


def test_the_pinned_release_is_installed():
    name, pinned = REQUIREMENTS.read_text().split()[0].split("==")
    assert version(name.split("[")[0]) == pinned
