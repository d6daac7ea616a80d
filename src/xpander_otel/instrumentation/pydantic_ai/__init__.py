"""OpenTelemetry instrumentation for Pydantic AI, built on its own GenAI spans.

Pydantic AI already emits ``invoke_agent``/``chat``/``execute_tool`` spans when its instrumentation is on.
This instrumentor switches it on for the given tracer provider (unless the application configured it
already) and adds the xpander attributes to its agent spans; it emits no spans of its own, so nothing is
duplicated and no token is counted twice.

>>> from xpander_otel.instrumentation.pydantic_ai import PydanticAIInstrumentor
>>> PydanticAIInstrumentor().instrument(tracer_provider=provider)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from .. import _wrap
from .package import _instruments


class PydanticAIInstrumentor(BaseInstrumentor):
    """Turns on ``Agent.instrument_all`` for the tracer provider and enriches every agent run span."""

    _wrapped: list[tuple[Any, str]] = []
    _native: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from . import patch

        _wrap.refresh_content_capture()
        self._native = patch.enable_native(kwargs.get("tracer_provider"))
        tracer = _wrap.get_tracer(__name__, kwargs.get("tracer_provider"))
        self._wrapped = _wrap.wrap_targets(patch.TARGETS, tracer)

    def _uninstrument(self, **kwargs: Any) -> None:
        from . import patch

        _wrap.unwrap_targets(self._wrapped)
        patch.restore_native(self._native)
        self._native = None


__all__ = ["PydanticAIInstrumentor"]
