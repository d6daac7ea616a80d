"""The Strands Agents versions this instrumentor supports (its native tracer API)."""

_instruments = ("strands-agents >= 1.55, < 2",)
