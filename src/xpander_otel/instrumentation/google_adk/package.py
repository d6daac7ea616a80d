"""The Google ADK versions this instrumentor supports (its native ``gcp.vertex.agent`` tracer)."""

_instruments = ("google-adk >= 1.0, < 3",)
