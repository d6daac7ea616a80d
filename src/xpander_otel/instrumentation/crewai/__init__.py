"""OpenTelemetry instrumentation for CrewAI: crew runs, agent runs, LLM calls and tool calls.

CrewAI's own telemetry and event bus are left exactly as the application configured them.

>>> from xpander_otel.instrumentation.crewai import CrewAIInstrumentor
>>> CrewAIInstrumentor().instrument(tracer_provider=provider)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from .. import _wrap
from .package import _instruments


class CrewAIInstrumentor(BaseInstrumentor):
    """Spans for ``Crew.kickoff``/``akickoff`` (every kickoff variant, streaming included), each agent's
    task execution and standalone ``Agent.kickoff``, every LLM provider's ``call``/``acall`` and tools."""

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


__all__ = ["CrewAIInstrumentor"]
