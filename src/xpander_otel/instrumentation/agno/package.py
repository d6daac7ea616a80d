"""The agno versions this instrumentation supports (``instrumentation_dependencies``)."""

_instruments = ("agno >= 3.0",)
