"""Strands Agents: reuse its native GenAI spans, send them to our tracer provider, add what is missing.

>>> from xpander_otel.instrumentation.strands import StrandsInstrumentor
>>> StrandsInstrumentor().instrument(tracer_provider=provider)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .. import _wrap
from .package import _instruments


class StrandsInstrumentor(_wrap.Instrumentor):
    """Strands' agent, chat and tool spans on the given tracer provider, with xpander ids and CLIENT chats."""

    _wrapped: list[tuple[Any, str]] = []
    _original_tracer: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from strands.telemetry import tracer as strands_tracer

        from . import patch

        _wrap.refresh_content_capture()
        singleton = strands_tracer.get_tracer()
        self._original_tracer = singleton.tracer
        singleton.tracer = patch.native_tracer(kwargs.get("tracer_provider"))
        self._wrapped = _wrap.wrap_targets(patch.TARGETS, singleton.tracer)

    def _uninstrument(self, **kwargs: Any) -> None:
        from strands.telemetry import tracer as strands_tracer

        _wrap.unwrap_targets(self._wrapped)
        if self._original_tracer is not None:
            strands_tracer.get_tracer().tracer = self._original_tracer
            self._original_tracer = None


__all__ = ["StrandsInstrumentor"]
