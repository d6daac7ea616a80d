"""The smolagents versions this instrumentation supports (``instrumentation_dependencies``).

1.20 is the oldest release its tests were run on (by hand; smolagents has no get_args builder, so no
``_oldest`` nox session).
"""

_instruments = ("smolagents >= 1.20",)
