"""The CrewAI versions this instrumentation supports (``instrumentation_dependencies``).

1.15.30 is the release the tests run on: earlier 1.15 releases do not send unknown ``openai/<model>``
names to their OpenAI provider even with a base URL, and 1.14 pins an OpenTelemetry release without the
GenAI attribute names this package uses.
"""

_instruments = ("crewai >= 1.15.30",)
