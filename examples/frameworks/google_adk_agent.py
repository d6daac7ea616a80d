# Run: LITELLM_LOCAL_MODEL_COST_MAP=True XPANDER_BASE_URL=http://127.0.0.1:8765 XPANDER_AGENT_ID=weather-agent python examples/frameworks/google_adk_agent.py
"""A Google ADK agent built from its xpander configuration; its run is reported to xpander as a task.

Start the dev server first (`xpander-otel serve`): it serves the `weather-agent` configuration and the
scripted LLM that the agent's model points at, so this runs offline with no key.
(`LITELLM_LOCAL_MODEL_COST_MAP=True` keeps LiteLLM from downloading its cost map at import.)
"""

import asyncio

from google.adk.agents import LlmAgent
from google.adk.runners import InMemoryRunner
from google.genai import types

import xpander_otel
from xpander_otel import Backend


def get_weather(city: str) -> str:
    """The current weather of a city."""
    return f"Sunny in {city}, 22 degrees Celsius."


async def ask(agent: LlmAgent, question: str) -> str:
    runner = InMemoryRunner(agent=agent, app_name="weather")
    session = await runner.session_service.create_session(app_name="weather", user_id="me")
    message = types.Content(role="user", parts=[types.Part(text=question)])
    answer = ""
    async for event in runner.run_async(user_id="me", session_id=session.id, new_message=message):
        if event.is_final_response() and event.content and event.content.parts:
            answer = "".join(part.text or "" for part in event.content.parts)
    return answer


telemetry = xpander_otel.configure()  # exporter + instrumentors of the installed frameworks

args = Backend().get_args(framework="google-adk", tools=[get_weather])  # agent id from XPANDER_AGENT_ID
print(asyncio.run(ask(LlmAgent(**args), "What is the weather in Paris right now?")))

telemetry.shutdown()  # deliver the task report before the script ends
