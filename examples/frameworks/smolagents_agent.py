# Run: XPANDER_BASE_URL=http://127.0.0.1:8765 XPANDER_AGENT_ID=weather-agent python examples/frameworks/smolagents_agent.py
"""A smolagents agent on the model of an xpander agent; its run is reported to xpander as a task.

smolagents has no get_args builder yet: `framework="neutral"` gives the model, endpoint and key as plain
values, and `xpander_otel.task(...)` tells the instrumentation which xpander agent the run belongs to.
Start the dev server first (`xpander-otel serve`): it serves the `weather-agent` configuration and the
scripted LLM that the agent's model points at, so this runs offline with no key. smolagents ends a run
through its `final_answer` tool; `weather-agent`'s scripted model answers in plain text instead, so
smolagents asks again until its step limit (the task is still reported). An agent on the scripted model
`scripted-final-answer` ends in two steps (see docs/frameworks/smolagents.md).
"""

from smolagents import OpenAIServerModel, ToolCallingAgent, tool

import xpander_otel
from xpander_otel import Backend


@tool
def get_weather(city: str) -> str:
    """The current weather of a city.

    Args:
        city: The city's name.
    """
    return f"Sunny in {city}, 22 degrees Celsius."


telemetry = xpander_otel.configure()  # exporter + instrumentors of the installed frameworks

args = Backend().get_args(framework="neutral")  # agent id from XPANDER_AGENT_ID
model = OpenAIServerModel(model_id=args["model_name"], api_base=args["api_base"],
                          api_key=args["api_key"].get_secret_value())
agent = ToolCallingAgent(tools=[get_weather], model=model, name="weather_agent", verbosity_level=0)
with xpander_otel.task(agent_id=args["agent_id"]):
    print(agent.run("What is the weather in Paris right now?"))

telemetry.shutdown()  # deliver the task report before the script ends
