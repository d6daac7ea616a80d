"""The Google ADK versions this instrumentor supports (its native ``gcp.vertex.agent`` tracer)."""

_instruments = ("google-adk >= 2.13, < 3",)
