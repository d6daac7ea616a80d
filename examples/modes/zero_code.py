# Run: OTEL_TRACES_EXPORTER=xpander OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none XPANDER_BASE_URL=http://127.0.0.1:8765 XPANDER_AGENT_ID=weather-agent opentelemetry-instrument python examples/modes/zero_code.py
"""Zero-code: this script has no tracing code at all; `opentelemetry-instrument` adds it.

`opentelemetry-instrument` loads every installed instrumentor (xpander's Agno instrumentor among them)
and `OTEL_TRACES_EXPORTER=xpander` selects the xpander span exporter (`otlp,xpander` sends the same spans
to your OTLP backend as well). Start the dev server first: `xpander-otel serve`.
"""

from agno.agent import Agent

from xpander_otel import Backend


def get_weather(city: str) -> str:
    """The current weather of a city."""
    return f"Sunny in {city}, 22 degrees Celsius."


agent = Agent(**Backend().get_args(framework="agno", tools=[get_weather]))
print(agent.run("What is the weather in Paris right now?").content)
# At exit the OpenTelemetry SDK shuts its provider down, which delivers the task report.
