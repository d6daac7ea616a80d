"""Strands Agents: reuse its native GenAI spans, send them to our tracer provider, add what is missing.

>>> StrandsInstrumentor().instrument(tracer_provider=provider)   # doctest: +SKIP
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


class StrandsInstrumentor(BaseInstrumentor):
    """Strands' agent, chat and tool spans on the given tracer provider, with xpander ids and CLIENT chats."""

    _original_tracer: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from strands.telemetry import tracer as strands_tracer

        _wrap.refresh_content_capture()
        singleton = strands_tracer.get_tracer()
        self._original_tracer = singleton.tracer
        singleton.tracer = patch.native_tracer(kwargs.get("tracer_provider"))
        for name, wrapper in patch.WRAPPERS.items():
            wrapt.wrap_function_wrapper(patch.STRANDS_TRACER_MODULE, name, wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        from strands.telemetry import tracer as strands_tracer

        for name in patch.WRAPPERS:
            cls, method = name.split(".")
            unwrap(getattr(strands_tracer, cls), method)
        if self._original_tracer is not None:
            strands_tracer.get_tracer().tracer = self._original_tracer
            self._original_tracer = None
