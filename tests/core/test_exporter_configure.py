"""xpander_otel.configure(): global provider, xpander instrumentors found by entry point, twice is once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent

# An installed distribution with instrumentor entry points: one present, one whose framework is missing,
# and one that is not ours (its name lacks the xpander_ prefix), which configure() must leave alone.
FAKE_INSTRUMENTORS = '''
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor


class Present(BaseInstrumentor):
    provider = None

    def instrumentation_dependencies(self):
        return []

    def _instrument(self, **kwargs):
        Present.provider = kwargs.get("tracer_provider")

    def _uninstrument(self, **kwargs):
        Present.provider = None


class Missing(BaseInstrumentor):
    def instrumentation_dependencies(self):
        return ["framework-that-is-not-installed >= 1.0"]

    def _instrument(self, **kwargs):
        raise AssertionError("a missing framework must not be instrumented")

    def _uninstrument(self, **kwargs):
        pass


class Foreign(Missing):
    def instrumentation_dependencies(self):
        return []
'''
ENTRY_POINTS = """[opentelemetry_instrumentor]
xpander_present = fakeinstr:Present
xpander_missing = fakeinstr:Missing
someone_else = fakeinstr:Foreign
"""


@pytest.fixture
def plugin_path(tmp_path):
    root = tmp_path / "site"
    dist = root / "fakeinstr-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeinstr\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    (root / "fakeinstr.py").write_text(FAKE_INSTRUMENTORS)
    return root


@pytest.mark.parametrize(("mode", "service"), [("fresh", "svc"), ("default", "xpander-agent"),
                                               ("existing", "user-svc")])
def test_configure_reports_runs_and_instruments_installed_xpander_instrumentors(
        recorder, tmp_path, plugin_path, mode, service):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XPANDER_", "OTEL_"))}
    env["PYTHONPATH"] = str(plugin_path)
    done = subprocess.run([sys.executable, str(HERE / "scripts" / "configure_app.py"), recorder.url,
                           str(tmp_path / "spool.sqlite3"), mode], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "same_handle": True, "global_is_ours": True, "service": service, "instrumented": ["xpander_present"],
        "instrumentor_got_provider": True, "flushed": True, "uninstrumented": True, "fresh_after_shutdown": True,
    }
    [request] = [r for r in recorder.requests if r.path.endswith("/report_task")]
    assert request.path == "/agent-execution/agent-cfg/report_task"
    assert request.json()["tokens"]["total_tokens"] == 10
    assert done.stderr == ""
