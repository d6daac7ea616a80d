"""Zero-code runs: an unmodified script under ``opentelemetry-instrument`` with the console exporter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_under_opentelemetry_instrument(script: str, llm: Any, tmp_path: Path, *, timeout: float = 180,
                                       env: dict[str, str] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Run ``script`` (``sys.argv[1]`` is the scripted LLM's base URL) as ``opentelemetry-instrument python
    app.py``; return its stdout and the spans the console exporter printed there."""
    path = tmp_path / "app.py"
    path.write_text(script)
    environment = {**os.environ, "OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none",
                   "OTEL_LOGS_EXPORTER": "none", "OTEL_SERVICE_NAME": "zero-code", **(env or {})}
    command = [str(Path(sys.executable).with_name("opentelemetry-instrument")), sys.executable, str(path),
               llm.base_url]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout, check=True)
    return done.stdout, _console_spans(done.stdout)


def _console_spans(stdout: str) -> list[dict[str, Any]]:
    decoder, spans = json.JSONDecoder(), []
    position = stdout.find("{")
    while position != -1:
        span, end = decoder.raw_decode(stdout, position)
        spans.append(span)
        position = stdout.find("{", end)
    return spans
