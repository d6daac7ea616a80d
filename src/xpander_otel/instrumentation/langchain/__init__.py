"""LangChain / LangGraph: agent and graph runs, chat-model calls and tool runs as GenAI spans.

>>> from xpander_otel.instrumentation.langchain import LangChainInstrumentor
>>> LangChainInstrumentor().instrument(tracer_provider=provider)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .. import _wrap
from .package import _instruments


class LangChainInstrumentor(_wrap.Instrumentor):
    """``invoke_agent`` per graph/agent run, ``chat`` per chat-model call, ``execute_tool`` per tool run."""

    _wrapped: list[tuple[Any, str]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from . import patch

        _wrap.refresh_content_capture()
        tracer = _wrap.get_tracer(patch.__name__, kwargs.get("tracer_provider"))
        self._wrapped = _wrap.wrap_targets(patch.TARGETS, tracer)

    def _uninstrument(self, **kwargs: Any) -> None:
        _wrap.unwrap_targets(self._wrapped)


__all__ = ["LangChainInstrumentor"]
