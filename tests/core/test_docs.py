"""The docs cannot drift: every environment variable config.py reads is in the configuration reference,
and every example has its run command and a test that runs it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import xpander_otel.config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(xpander_otel.config.__file__)
REFERENCE = ROOT / "docs" / "configuration.md"
# Calls whose first argument names an environment variable (the module's readers and os's).
READERS = {"_env", "_flag", "_env_number", "env_secret", "getenv", "get"}
VARIABLE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")


def variables_read_by(source: str) -> set[str]:
    """Names assigned to ENV_*/_ENV_* constants, plus literal names passed to an environment reader or
    looked up in ``os.environ[...]``."""
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            if any(isinstance(t, ast.Name) and t.id.lstrip("_").startswith("ENV_") for t in node.targets):
                found.add(node.value.value)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in READERS and isinstance(node.args[0].value, str) and VARIABLE.match(node.args[0].value):
                found.add(node.args[0].value)
        elif (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
              and "environ" in ast.unparse(node.value) and isinstance(node.slice.value, str)):
            found.add(node.slice.value)
    return found


def test_the_scan_finds_constants_literal_reads_and_environ_lookups():
    source = '''
import os
ENV_A = "XPANDER_A"
_ENV_B = "XDG_B"
def f():
    return _env("XPANDER_C"), os.environ.get("OTEL_D"), os.getenv("E_F"), os.environ["G_H"], {}.get("not_env")
'''
    assert variables_read_by(source) == {"XPANDER_A", "XDG_B", "XPANDER_C", "OTEL_D", "E_F", "G_H"}


def test_the_configuration_reference_lists_every_variable_config_reads():
    variables = variables_read_by(CONFIG.read_text())
    # The variables every release has: the scan must find them, or it has stopped working.
    assert {"XPANDER_API_KEY", "XPANDER_BASE_URL", "XPANDER_AGENT_ID", "IS_XPANDER_CLOUD",
            "XPANDER_OTEL_SPOOL", "OPENAI_COMPATIBLE_API_KEY"} <= variables
    reference = REFERENCE.read_text()
    missing = sorted(name for name in variables if f"`{name}`" not in reference)
    assert missing == [], f"add these variables to docs/configuration.md: {missing}"


def test_doctor_knows_every_env_constant():
    # doctor lists config.environment_variables(); it must cover the public ENV_* names the scan finds.
    public = {v for k, v in vars(xpander_otel.config).items() if k.startswith("ENV_")}
    assert set(xpander_otel.config.environment_variables()) == public


def examples() -> list[Path]:
    return sorted((ROOT / "examples").rglob("*.py"))


def test_every_example_starts_with_its_run_command_and_is_run_by_a_test():
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_examples.py"))
    assert len(examples()) >= 9
    for example in examples():
        first = example.read_text().splitlines()[0]
        assert first.startswith("# Run: "), example
        assert f"python examples/{example.relative_to(ROOT / 'examples').as_posix()}" in first, example
        assert f'"{example.name}"' in tests, f"no test runs {example}"


def test_every_docs_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md"))
    assert [p for p in pages if p not in nav] == []
