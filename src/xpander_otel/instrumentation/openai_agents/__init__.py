"""OpenTelemetry instrumentation for the OpenAI Agents SDK: runs, handoffs, model and tool calls.

>>> from xpander_otel.instrumentation.openai_agents import OpenAIAgentsInstrumentor
>>> OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .. import _wrap
from .package import _instruments


class OpenAIAgentsInstrumentor(_wrap.Instrumentor):
    """Spans for ``Runner.run``/``run_sync``/``run_streamed``, with the SDK's own tracing bridged in.

    The SDK's agent, model (Responses and Chat Completions) and tool spans reach OpenTelemetry through
    a trace processor added next to the user's (``agents.add_trace_processor``), never instead of them.
    """

    _wrapped: list[tuple[Any, str]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from . import patch

        _wrap.refresh_content_capture()
        tracer = _wrap.get_tracer(__name__, kwargs.get("tracer_provider"))
        self._wrapped = _wrap.wrap_targets(patch.TARGETS, tracer)
        patch.BRIDGE.enable(tracer)

    def _uninstrument(self, **kwargs: Any) -> None:
        from . import patch

        patch.BRIDGE.disable()
        _wrap.unwrap_targets(self._wrapped)


__all__ = ["OpenAIAgentsInstrumentor"]
