"""Google ADK: reuse its native GenAI spans, send them to our tracer provider, add what is missing.

>>> GoogleADKInstrumentor().instrument(tracer_provider=provider)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap

from .. import _wrap
from . import patch
from .package import _instruments


class GoogleADKInstrumentor(BaseInstrumentor):
    """ADK's workflow, agent, LLM and tool spans on the given tracer provider, with xpander ids and task text."""

    _original_tracer: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from google.adk import runners, version
        from google.adk.telemetry import tracing

        _wrap.refresh_content_capture()
        self._original_tracer = tracing.tracer
        native = patch.native_tracer(kwargs.get("tracer_provider"), getattr(version, "__version__", None))
        patch.replace_tracer(self._original_tracer, native)
        wrapt.wrap_function_wrapper(runners, "Runner.run_async", patch.run_async)

    def _uninstrument(self, **kwargs: Any) -> None:
        from google.adk import runners
        from google.adk.telemetry import tracing

        unwrap(runners.Runner, "run_async")
        if self._original_tracer is not None:
            patch.replace_tracer(tracing.tracer, self._original_tracer)
        self._original_tracer = None
