"""The CrewAI versions this instrumentation supports (``instrumentation_dependencies``)."""

_instruments = ("crewai >= 1.0",)
