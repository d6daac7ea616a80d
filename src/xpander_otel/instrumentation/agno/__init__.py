"""OpenTelemetry instrumentation for Agno: agent and team runs, model calls and tool calls.

>>> from xpander_otel.instrumentation.agno import AgnoInstrumentor
>>> AgnoInstrumentor().instrument(tracer_provider=provider)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .. import _wrap
from .package import _instruments


class AgnoInstrumentor(_wrap.Instrumentor):
    """Spans for ``Agent``/``Team`` ``run``/``arun`` (streaming too), every model's calls and tool calls."""

    _wrapped: list[tuple[Any, str]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from . import patch

        _wrap.refresh_content_capture()
        tracer = _wrap.get_tracer(__name__, kwargs.get("tracer_provider"))
        self._wrapped = _wrap.wrap_targets(patch.TARGETS, tracer)

    def _uninstrument(self, **kwargs: Any) -> None:
        _wrap.unwrap_targets(self._wrapped)


__all__ = ["AgnoInstrumentor"]
