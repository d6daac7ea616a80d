"""The Pydantic AI versions this instrumentation supports (``instrumentation_dependencies``).

``pydantic-ai-slim`` is what carries the code (the ``pydantic-ai`` meta-package only adds provider SDKs).
"""

_instruments = ("pydantic-ai-slim >= 1.0",)
