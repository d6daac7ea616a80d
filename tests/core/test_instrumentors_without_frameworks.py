"""Without the framework installed (the core environment), an instrumentor is skipped quietly."""

import logging

import pytest

from xpander_otel.instrumentation.agno import AgnoInstrumentor
from xpander_otel.instrumentation.openai_agents import OpenAIAgentsInstrumentor


@pytest.mark.parametrize("cls", [AgnoInstrumentor, OpenAIAgentsInstrumentor])
def test_missing_framework_is_skipped_with_one_debug_line(cls, caplog):
    caplog.set_level(logging.DEBUG)
    instrumentor = cls()

    assert instrumentor.instrument() is None

    assert not instrumentor.is_instrumented_by_opentelemetry
    ours = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert [(r.levelno, r.name) for r in ours] == [(logging.DEBUG, "xpander_otel.instrumentation._wrap")]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_instrumentation_imports_neither_exporter_nor_bridge():
    import ast
    from pathlib import Path

    import xpander_otel.instrumentation as package

    imported = set()
    for path in Path(package.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                imported.add("." * node.level + (node.module or ""))
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert imported, "no imports found: the test looks in the wrong place"
    assert not [m for m in imported if "exporter" in m.split(".") or "bridge" in m.split(".")]
