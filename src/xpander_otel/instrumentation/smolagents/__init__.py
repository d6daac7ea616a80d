"""OpenTelemetry instrumentation for smolagents: agent runs (streaming too), model calls and tool calls.

>>> from xpander_otel.instrumentation.smolagents import SmolagentsInstrumentor
>>> SmolagentsInstrumentor().instrument(tracer_provider=provider)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from .. import _wrap
from .package import _instruments


class SmolagentsInstrumentor(BaseInstrumentor):
    """Spans for ``MultiStepAgent.run`` (``stream=True`` too), model ``generate``/``generate_stream`` and
    tool calls; the built-in ``final_answer`` tool ends a run and gets no tool span of its own."""

    _wrapped: list[tuple[Any, str]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from . import patch

        _wrap.refresh_content_capture()
        tracer = _wrap.get_tracer(__name__, kwargs.get("tracer_provider"))
        self._wrapped = _wrap.wrap_targets(patch.targets(), tracer)

    def _uninstrument(self, **kwargs: Any) -> None:
        _wrap.unwrap_targets(self._wrapped)


__all__ = ["SmolagentsInstrumentor"]
