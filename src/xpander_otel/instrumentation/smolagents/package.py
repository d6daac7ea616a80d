"""The smolagents versions this instrumentation supports (``instrumentation_dependencies``)."""

_instruments = ("smolagents >= 1.20",)
