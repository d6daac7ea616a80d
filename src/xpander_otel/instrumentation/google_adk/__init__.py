"""Google ADK: reuse its native GenAI spans, send them to our tracer provider, add what is missing.

>>> GoogleADKInstrumentor().instrument(tracer_provider=provider)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .. import _wrap
from . import patch
from .package import _instruments


class GoogleADKInstrumentor(_wrap.Instrumentor):
    """ADK's workflow, agent, LLM and tool spans on the given tracer provider, with xpander ids and task text."""

    _wrapped: list[tuple[Any, str]] = []
    _original_tracer: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from google.adk import version
        from google.adk.telemetry import tracing

        _wrap.refresh_content_capture()
        self._original_tracer = tracing.tracer
        native = patch.native_tracer(kwargs.get("tracer_provider"), getattr(version, "__version__", None))
        patch.replace_tracer(self._original_tracer, native)
        self._wrapped = _wrap.wrap_targets(patch.TARGETS, native)

    def _uninstrument(self, **kwargs: Any) -> None:
        from google.adk.telemetry import tracing

        _wrap.unwrap_targets(self._wrapped)
        if self._original_tracer is not None:
            patch.replace_tracer(tracing.tracer, self._original_tracer)
        self._original_tracer = None


__all__ = ["GoogleADKInstrumentor"]
