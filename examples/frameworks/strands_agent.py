# Run: XPANDER_BASE_URL=http://127.0.0.1:8765 XPANDER_AGENT_ID=weather-agent python examples/frameworks/strands_agent.py
"""A Strands agent built from its xpander configuration; its run is reported to xpander as a task.

Start the dev server first (`xpander-otel serve`): it serves the `weather-agent` configuration and the
scripted LLM that the agent's model points at, so this runs offline with no key.
"""

from strands import Agent

import xpander_otel
from xpander_otel import Backend


def get_weather(city: str) -> str:
    """The current weather of a city."""
    return f"Sunny in {city}, 22 degrees Celsius."


telemetry = xpander_otel.configure()  # exporter + instrumentors of the installed frameworks

args = Backend().get_args(framework="strands-agents", tools=[get_weather])  # agent id from XPANDER_AGENT_ID
agent = Agent(**args)
result = agent("What is the weather in Paris right now?")
print(str(result).strip())

telemetry.shutdown()  # deliver the task report before the script ends
