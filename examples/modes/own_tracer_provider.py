# Run: XPANDER_BASE_URL=http://127.0.0.1:8765 XPANDER_AGENT_ID=weather-agent python examples/modes/own_tracer_provider.py
"""Your own TracerProvider: add the xpander span processor beside your other exporters.

Here the same spans also go to the console (on stderr), standing in for your tracing backend.
Start the dev server first: `xpander-otel serve`.
"""

import sys

from agno.agent import Agent
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

from xpander_otel import Backend
from xpander_otel.exporter import XpanderSpanExporter, XpanderSpanProcessor
from xpander_otel.instrumentation.agno import AgnoInstrumentor

provider = TracerProvider(resource=Resource.create({"service.name": "weather-service"}))
provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))  # your exporter
provider.add_span_processor(XpanderSpanProcessor(XpanderSpanExporter()))  # agent id from XPANDER_AGENT_ID
AgnoInstrumentor().instrument(tracer_provider=provider)


def get_weather(city: str) -> str:
    """The current weather of a city."""
    return f"Sunny in {city}, 22 degrees Celsius."


agent = Agent(**Backend().get_args(framework="agno", tools=[get_weather]))
print(agent.run("What is the weather in Paris right now?").content)

provider.shutdown()  # flushes every processor: the console spans and the xpander task report
