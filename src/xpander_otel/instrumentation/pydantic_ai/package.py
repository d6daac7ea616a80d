"""The Pydantic AI versions this instrumentation supports (``instrumentation_dependencies``).

``pydantic-ai-slim`` is what carries the code (the ``pydantic-ai`` meta-package only adds provider SDKs).
2.50 is the oldest release the tests pass on (``pydantic_ai_oldest``); 2.0 names the run span's usage
differently.
"""

_instruments = ("pydantic-ai-slim >= 2.50",)
