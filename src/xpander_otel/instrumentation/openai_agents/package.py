"""The OpenAI Agents SDK versions this instrumentation supports (``instrumentation_dependencies``)."""

_instruments = ("openai-agents >= 0.24",)
