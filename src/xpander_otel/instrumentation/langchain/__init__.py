"""LangChain / LangGraph: agent and graph runs, chat-model calls and tool runs as GenAI spans.

>>> LangChainInstrumentor().instrument(tracer_provider=provider)   # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.dependencies import get_dependency_conflicts
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap

from .. import _wrap
from . import patch
from .package import _instruments, _instruments_langgraph


class LangChainInstrumentor(BaseInstrumentor):
    """``invoke_agent`` per graph/agent run, ``chat`` per chat-model call, ``execute_tool`` per tool run."""

    _wrapped: tuple[tuple[str, str], ...] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        _wrap.refresh_content_capture()
        patch.set_tracer(_wrap.get_tracer(patch.__name__, kwargs.get("tracer_provider")))
        targets = dict(patch.CORE_WRAPPERS)
        # Plain LangChain without LangGraph still gets its chat and tool spans.
        if get_dependency_conflicts([_instruments_langgraph]) is None:
            targets.update(patch.LANGGRAPH_WRAPPERS)
        for (module, name), wrapper in targets.items():
            wrapt.wrap_function_wrapper(module, name, wrapper)
        self._wrapped = tuple(targets)

    def _uninstrument(self, **kwargs: Any) -> None:
        for module, name in self._wrapped:
            cls, method = name.split(".")
            unwrap(getattr(importlib.import_module(module), cls), method)
        self._wrapped = ()
