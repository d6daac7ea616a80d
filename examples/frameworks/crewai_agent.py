# Run: XPANDER_BASE_URL=http://127.0.0.1:8765 XPANDER_AGENT_ID=weather-agent python examples/frameworks/crewai_agent.py
"""A CrewAI agent built from its xpander configuration, in a one-task crew; the crew's run is reported
to xpander as a task.

Start the dev server first (`xpander-otel serve`): it serves the `weather-agent` configuration and the
scripted LLM that the agent's model points at, so this runs offline with no key.
"""

from crewai import Agent, Crew, Task

import xpander_otel
from xpander_otel import Backend


def get_weather(city: str) -> str:
    """The current weather of a city."""
    return f"Sunny in {city}, 22 degrees Celsius."


telemetry = xpander_otel.configure()  # exporter + instrumentors of the installed frameworks

args = Backend().get_args(framework="crewai", tools=[get_weather])  # agent id from XPANDER_AGENT_ID
agent = Agent(**args)
task = Task(description="What is the weather in Paris right now?", expected_output="One sentence.", agent=agent)
output = Crew(agents=[agent], tasks=[task]).kickoff()
print(output.raw)

telemetry.shutdown()  # deliver the task report before the script ends
